import { realpath, stat } from 'node:fs/promises'
import { mergeFrom } from './engine.ts'
import { openStoreSource } from './source.ts'
import { openCarSource } from '../car-source.ts'
import { openHttpSource } from '../sync/http-source.ts'
import type { Store, StoreInit } from '../store.ts'
import type { MergeFromOptions, MergeResult } from './engine.ts'
import type { MergeSource } from './source.ts'

/** Options for merging. */
export interface MergeOptions extends MergeFromOptions, StoreInit {
  /** Bearer token for an `http(s)://` source (`serve --token-file`). */
  token?: string
  /** Milliseconds without a byte from an `http(s)://` source before `E_NET`. @default 30000 */
  timeoutMs?: number
}

/**
 * Merges a source into an open destination store: a store directory, a `.car` file written by `exportCar`,
 * an `http(s)://` URL of a `snapstore serve` server, or any `MergeSource`.
 * Merging a store into itself copies nothing.
 * @example
 * const dest = await openStore('./master.store')
 * const { events, blobs } = await mergeStores(dest, './jobs/job-17/checkpoint.store')
 * await closeStore(dest)
 */
export async function mergeStores (dest: Store, source: string | MergeSource, options: MergeOptions = {}): Promise<MergeResult> {
  if (typeof source !== 'string') return await mergeFrom(dest, source, options)
  if (/^https?:\/\//i.test(source)) {
    const remote = await openHttpSource(source, {
      ...(options.token === undefined ? {} : { token: options.token }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.wait === undefined ? {} : { wait: options.wait })
    })
    // An interruption drops the connections, so a merge waiting for the peer stops at once.
    const drop = (): void => { void remote.close() }
    options.signal?.addEventListener('abort', drop, { once: true })
    try {
      return await mergeFrom(dest, remote, options)
    } catch (err) {
      options.signal?.throwIfAborted()
      throw err
    } finally {
      options.signal?.removeEventListener('abort', drop)
      await remote.close()
    }
  }
  const destPath = await realpath(dest.path)
  if (await realpath(source).catch(() => source) === destPath) return { source, events: 0, blobs: 0, bytes: 0, ...(options.dryRun === true ? { dryRun: true } : {}) }
  // A directory is a store whatever its name; a file ending in .car is a CAR.
  const isCar = source.endsWith('.car') && (await stat(source).catch(() => undefined))?.isDirectory() !== true
  const opened = isCar ? await openCarSource(source) : await openStoreSource(source, options.wait === undefined ? {} : { wait: options.wait })
  try {
    return await mergeFrom(dest, opened, options)
  } finally {
    await opened.close()
  }
}
