import { fstatSync } from 'node:fs'
import { basename } from 'node:path'
import { recordAdds } from '../add.ts'
import { BadInputError, UsageError } from '../errors.ts'
import { platformFingerprint } from '../fingerprint.ts'
import { checkFileToAdd, putBlob, putFile } from '../ingest/put-blob.ts'
import { withStore } from '../store.ts'
import { parseKind } from './kinds.ts'
import { parsePairs, storeInit } from './context.ts'
import { jsonReplacer, progressReporter, writeLine } from './output.ts'
import { syncStore } from '../log.ts'
import { checkTagName } from '../tag.ts'
import type { StoreCommandOptions } from './context.ts'
import type { Store } from '../store.ts'
import type { PutBlobResult } from '../ingest/put-blob.ts'
import type { AddOptions } from '../add.ts'

const SYNC_INTERVAL_MS = 200
// Up to this many files after the one being recorded are stored ahead of it, when each is smaller than
// READ_AHEAD_BELOW (so at most about 35 MiB of them are in memory at once): 1,000 files of 64 KiB are
// added in about half the time they took one at a time (3 ahead: two thirds). Larger files are stored
// one at a time, with progress, in the ingest's bounded memory.
const READ_AHEAD = 7
const READ_AHEAD_BELOW = 4 * 1024 * 1024
// Files are checked (opened, measured, closed) this many at a time before any is stored.
const CHECKS_AT_ONCE = 16

/** Options of `snapstore add`. */
export interface AddCommandOptions extends StoreCommandOptions {
  name?: string
  meta: string[]
  tag?: string
  fingerprint?: boolean
}

/** Fails with `E_BAD_INPUT` when standard input is a directory: "-" would store an empty blob. */
function checkStandardInput (): void {
  if (fstatSync(0).isDirectory()) throw new BadInputError('Cannot read standard input: it is a directory')
}

/** `snapstore add KIND STORE FILE…`: stores each file and prints its id, in argument order. */
export async function add (kindText: string, path: string, files: readonly string[], options: AddCommandOptions): Promise<void> {
  const kind = parseKind(kindText)
  if (options.tag !== undefined && files.length !== 1) throw new UsageError('Cannot use --tag with more than one file: a tag points at one blob')
  // A tag that cannot be set is refused before any byte is stored.
  if (options.tag !== undefined) checkTagName(options.tag)
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('Cannot read standard input twice: give "-" at most once')
  if (files.includes('-')) checkStandardInput()
  const meta = { ...(options.fingerprint === true ? platformFingerprint() : {}), ...parsePairs(options.meta, '--meta') }
  // A missing or unreadable file among many fails the command before any is stored.
  const sizes: Array<number | undefined> = []
  for (let i = 0; i < files.length; i += CHECKS_AT_ONCE) {
    const checks = files.slice(i, i + CHECKS_AT_ONCE).map(async (file) => file === '-' ? undefined : (await checkFileToAdd(file)).size)
    // The first failure in argument order is the one reported.
    for (const check of await Promise.allSettled(checks)) {
      if (check.status === 'rejected') throw check.reason
      sizes.push(check.value)
    }
  }
  const small = (i: number): boolean => sizes[i] !== undefined && sizes[i]! < READ_AHEAD_BELOW
  await withStore(path, storeInit(options), async (store) => {
    // Many files: how many are added so far, on a terminal (its line cleared before ids are printed).
    const counter = files.length > 1 ? progressReporter('added') : undefined
    // Ids are printed only once the events recording them are synced; one sync covers many small files.
    let unsynced: string[] = []
    let lastSync = Date.now()
    const syncAndPrint = async (): Promise<void> => {
      if (unsynced.length === 0) return
      await syncStore(store)
      const lines = unsynced
      unsynced = []
      lastSync = Date.now()
      counter?.done()
      for (const line of lines) await writeLine(line)
    }
    // Small files are stored a few ahead of the one being recorded, so their reads, writes and syncs
    // overlap; those already stored are recorded with it in one append. Events are recorded, and ids
    // printed, in argument order.
    const ahead = new StoredAhead(store, files, small)
    const recordOptions = (file: string): AddOptions => ({
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.name === undefined && file !== '-' ? { nameIfNew: basename(file) } : {}),
      ...(Object.keys(meta).length > 0 ? { meta } : {}),
      ...(options.tag !== undefined ? { tag: options.tag } : {})
    })
    try {
      for (let i = 0; i < files.length;) {
        ahead.startAfter(i)
        const file = files[i]!
        const progress = progressReporter(`adding ${file}`)
        const onProgress = progress.onProgress === undefined ? {} : { onProgress: progress.onProgress }
        try {
          const first = await (ahead.take(i) ?? (file === '-' ? putBlob(store, process.stdin, onProgress) : putFile(store, file, onProgress)))
          progress.done()
          const batch = [{ file, put: first }, ...ahead.storedAfter(i).map((put, k) => ({ file: files[i + 1 + k]!, put }))]
          const results = await recordAdds(store, kind, batch.map(({ file, put }) => ({ put, options: recordOptions(file) })), false)
          for (const [k, result] of results.entries()) {
            unsynced.push(options.json === true
              ? JSON.stringify({ id: result.id, kind, size: result.size, file: batch[k]!.file, recorded: result.events.length > 0 }, jsonReplacer)
              : result.id.toString())
          }
          i += batch.length
          counter?.onProgress?.({ type: 'snapstore:add:files', done: i, total: files.length })
          if (Date.now() - lastSync >= SYNC_INTERVAL_MS) await syncAndPrint()
        } catch (err) {
          // What was recorded before the failure stays, and its ids are printed.
          await syncAndPrint()
          throw err
        } finally {
          progress.done()
        }
      }
      await syncAndPrint()
    } finally {
      counter?.done()
      // The store is not closed under files still being stored ahead.
      await ahead.settled()
    }
  })
}

/** Files stored ahead of the one being recorded: up to READ_AHEAD of the small ones that follow it. */
class StoredAhead {
  readonly #store: Store
  readonly #files: readonly string[]
  readonly #small: (i: number) => boolean
  readonly #puts = new Map<number, Promise<PutBlobResult>>()
  readonly #stored = new Map<number, PutBlobResult>()

  constructor (store: Store, files: readonly string[], small: (i: number) => boolean) {
    this.#store = store
    this.#files = files
    this.#small = small
  }

  /** Starts storing the small files after file `i`, up to READ_AHEAD, stopping at the first large one. */
  startAfter (i: number): void {
    for (let j = i + 1; j <= i + READ_AHEAD && j < this.#files.length && this.#small(j); j++) {
      if (this.#puts.has(j)) continue
      const put = putFile(this.#store, this.#files[j]!)
      put.then((result) => { this.#stored.set(j, result) }, () => undefined)
      this.#puts.set(j, put)
    }
  }

  /** The storing of file `i` if it was started ahead (then no longer tracked), or undefined. */
  take (i: number): Promise<PutBlobResult> | undefined {
    const put = this.#puts.get(i)
    this.#puts.delete(i)
    this.#stored.delete(i)
    return put
  }

  /** The files right after `i` that are stored already, in order, taken. */
  storedAfter (i: number): PutBlobResult[] {
    const out: PutBlobResult[] = []
    for (let j = i + 1; this.#stored.has(j); j++) {
      out.push(this.#stored.get(j)!)
      this.take(j)
    }
    return out
  }

  /** Resolves once every file started ahead is stored or failed. */
  async settled (): Promise<void> {
    await Promise.allSettled(this.#puts.values())
  }
}
