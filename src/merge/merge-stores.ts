import { realpath } from 'node:fs/promises'
import { mergeFrom } from './engine.ts'
import { openStoreSource } from './source.ts'
import { openCarSource } from '../car-source.ts'
import type { Store, StoreInit } from '../store.ts'
import type { MergeFromOptions, MergeResult } from './engine.ts'
import type { MergeSource } from './source.ts'

/** Options for merging. */
export interface MergeOptions extends MergeFromOptions, StoreInit {}

/**
 * Merges a source into an open destination store: a store directory, a `.car` file written by `exportCar`, or any `MergeSource`.
 * Merging a store into itself copies nothing.
 * @example
 * const dest = await openStore('./master.store')
 * const { events, blobs } = await mergeStores(dest, './jobs/job-17/checkpoint.store')
 * await closeStore(dest)
 */
export async function mergeStores (dest: Store, source: string | MergeSource, options: MergeOptions = {}): Promise<MergeResult> {
  if (typeof source !== 'string') return await mergeFrom(dest, source, options)
  const destPath = await realpath(dest.path)
  if (await realpath(source).catch(() => source) === destPath) return { source, events: 0, blobs: 0, bytes: 0, ...(options.dryRun === true ? { dryRun: true } : {}) }
  const opened = source.endsWith('.car') ? await openCarSource(source) : await openStoreSource(source, options.wait === undefined ? {} : { wait: options.wait })
  try {
    return await mergeFrom(dest, opened, options)
  } finally {
    await opened.close()
  }
}
