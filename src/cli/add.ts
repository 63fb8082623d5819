import { basename } from 'node:path'
import { addBlob } from '../add.ts'
import { UsageError } from '../errors.ts'
import { withStore } from '../store.ts'
import { parseKind } from './kinds.ts'
import { parsePairs, storeInit } from './context.ts'
import { progressReporter, writeJson, writeLine } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore add`. */
export interface AddCommandOptions extends StoreCommandOptions {
  name?: string
  meta: string[]
  tag?: string
}

/** `snapstore add KIND STORE FILE…`: stores each file and prints its id, in argument order. */
export async function add (kindText: string, path: string, files: readonly string[], options: AddCommandOptions): Promise<void> {
  const kind = parseKind(kindText)
  if (options.tag !== undefined && files.length !== 1) throw new UsageError('Cannot use --tag with more than one file: a tag points at one blob')
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('Cannot read standard input twice: give "-" at most once')
  const meta = parsePairs(options.meta, '--meta')
  await withStore(path, storeInit(options), async (store) => {
    for (const file of files) {
      const progress = progressReporter(`adding ${file}`)
      const source = file === '-' ? process.stdin : { path: file }
      try {
        const result = await addBlob(store, kind, source, {
          ...(options.name !== undefined ? { name: options.name } : {}),
          ...(options.name === undefined && file !== '-' ? { nameIfNew: basename(file) } : {}),
          ...(Object.keys(meta).length > 0 ? { meta } : {}),
          ...(options.tag !== undefined ? { tag: options.tag } : {}),
          ...(progress.onProgress !== undefined ? { onProgress: progress.onProgress } : {})
        })
        progress.done()
        // Printed only after the batch recording it was synced, so a printed id survives a crash.
        if (options.json === true) await writeJson({ id: result.id, kind, size: result.size, file, recorded: result.events.length > 0 })
        else await writeLine(result.id.toString())
      } finally {
        progress.done()
      }
    }
  })
}
