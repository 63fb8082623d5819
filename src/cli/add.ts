import { basename } from 'node:path'
import { addBlob } from '../add.ts'
import { UsageError } from '../errors.ts'
import { platformFingerprint } from '../fingerprint.ts'
import { checkFileToAdd } from '../ingest/put-blob.ts'
import { withStore } from '../store.ts'
import { parseKind } from './kinds.ts'
import { parsePairs, storeInit } from './context.ts'
import { jsonReplacer, progressReporter, writeLine } from './output.ts'
import { syncStore } from '../log.ts'
import type { StoreCommandOptions } from './context.ts'

const SYNC_INTERVAL_MS = 200

/** Options of `snapstore add`. */
export interface AddCommandOptions extends StoreCommandOptions {
  name?: string
  meta: string[]
  tag?: string
  fingerprint?: boolean
}

/** `snapstore add KIND STORE FILE…`: stores each file and prints its id, in argument order. */
export async function add (kindText: string, path: string, files: readonly string[], options: AddCommandOptions): Promise<void> {
  const kind = parseKind(kindText)
  if (options.tag !== undefined && files.length !== 1) throw new UsageError('Cannot use --tag with more than one file: a tag points at one blob')
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('Cannot read standard input twice: give "-" at most once')
  const meta = { ...(options.fingerprint === true ? platformFingerprint() : {}), ...parsePairs(options.meta, '--meta') }
  // A missing or unreadable file among many fails the command before any is stored.
  for (const file of files) if (file !== '-') await checkFileToAdd(file)
  await withStore(path, storeInit(options), async (store) => {
    // Ids are printed only once the events recording them are synced; one sync covers many small files.
    let unsynced: string[] = []
    let lastSync = Date.now()
    const syncAndPrint = async (): Promise<void> => {
      if (unsynced.length === 0) return
      await syncStore(store)
      const lines = unsynced
      unsynced = []
      lastSync = Date.now()
      for (const line of lines) await writeLine(line)
    }
    for (const file of files) {
      const progress = progressReporter(`adding ${file}`)
      const source = file === '-' ? process.stdin : { path: file }
      try {
        const result = await addBlob(store, kind, source, {
          ...(options.name !== undefined ? { name: options.name } : {}),
          ...(options.name === undefined && file !== '-' ? { nameIfNew: basename(file) } : {}),
          ...(Object.keys(meta).length > 0 ? { meta } : {}),
          ...(options.tag !== undefined ? { tag: options.tag } : {}),
          ...(progress.onProgress !== undefined ? { onProgress: progress.onProgress } : {}),
          sync: false
        })
        progress.done()
        unsynced.push(options.json === true
          ? JSON.stringify({ id: result.id, kind, size: result.size, file, recorded: result.events.length > 0 }, jsonReplacer)
          : result.id.toString())
        if (Date.now() - lastSync >= SYNC_INTERVAL_MS) await syncAndPrint()
      } catch (err) {
        // What was stored before the failure stays stored, and its ids are printed.
        await syncAndPrint()
        throw err
      } finally {
        progress.done()
      }
    }
    await syncAndPrint()
  })
}
