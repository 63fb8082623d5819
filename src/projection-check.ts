import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { removeAbandoned, temporaryName } from './abandoned.ts'
import { BadInputError, isSnapstoreError } from './errors.ts'
import { describeSystemError, isSystemError, levelErrorCode } from './system-errors.ts'
import { EVENTS_PER_BATCH, EventCommitter } from './log.ts'
import { writeBatch } from './batch.ts'
import { splitCheckpointRecords } from './projections/checkpoint-rows.ts'
import { BULK_READ, DERIVED_SUBLEVELS, closeStore, initStore, needsUpgrade } from './store.ts'
import type { Store, Sublevel, SublevelName } from './store.ts'
import type { StoredEvent } from './types.ts'

// Past the first few, differences are only counted.
const MAX_PROBLEMS = 20
// Rows read from each side of a comparison at a time.
const PAGE = 1000
// What a scratch store's directory is called (see temporaryName; mkdtemp adds the random part).
const SCRATCH_PREFIX = 'snapstore-verify'

/**
 * The indexes and projections a log implies, rebuilt into a scratch store in the temporary directory while
 * the log is read, then compared row by row with a store's own: two sorted keyspaces walked side by side,
 * so memory stays bounded whatever the length of the log. The rebuild is `reindex`'s, in the same
 * (origin, seq) order: projections do not depend on delivery order, and every check exercises that promise.
 */
export class ProjectionCheck {
  readonly #dir: string
  readonly #scratch: Store
  readonly #committer: EventCommitter
  #batch: StoredEvent[] = []
  #failure: string | undefined
  #runsCopy: Store | undefined

  private constructor (dir: string, scratch: Store) {
    this.#dir = dir
    this.#scratch = scratch
    this.#committer = new EventCommitter(scratch, Promise.resolve(), true)
  }

  /** Creates the scratch store (under `os.tmpdir()`, so `TMPDIR` chooses where), first removing those of verifies that were killed. */
  static async start (): Promise<ProjectionCheck> {
    await removeAbandoned(tmpdir(), SCRATCH_PREFIX)
    const dir = await mkdtemp(join(tmpdir(), temporaryName(SCRATCH_PREFIX))).catch((err: NodeJS.ErrnoException) => {
      throw new BadInputError(`Cannot create a scratch store for the rebuild in "${tmpdir()}": ${describeSystemError(err.code ?? '')} (set TMPDIR to a writable directory)`, { cause: err })
    })
    try {
      return new ProjectionCheck(dir, await initStore(join(dir, 'rebuild')))
    } catch (err) {
      await rm(dir, { recursive: true, force: true })
      throw scratchError(err)
    }
  }

  /** Projects the next event of the log, in (origin, seq) order. */
  async add (stored: StoredEvent): Promise<void> {
    if (this.#failure !== undefined) return
    this.#batch.push(stored)
    if (this.#batch.length >= EVENTS_PER_BATCH) await this.#commit()
  }

  /** Records that the log cannot be rebuilt (an event that cannot be read): no comparison is made. */
  fail (reason: string): void {
    this.#failure ??= reason
  }

  /** Projects what is still held and waits until the rebuild is written. */
  async finish (): Promise<void> {
    await this.#commit()
    try {
      await this.#committer.settled()
    } catch (err) {
      this.#failed(err)
    }
  }

  /** Every difference between the store's derived rows and the rebuild, the first MAX_PROBLEMS in full. Call after `finish`. */
  async problems (store: Store, signal?: AbortSignal): Promise<string[]> {
    if (this.#failure !== undefined) return [`projections: cannot rebuild from the log: ${this.#failure}`]
    const problems: string[] = []
    let more = 0
    const report = (problem: string): void => {
      if (problems.length < MAX_PROBLEMS) problems.push(problem)
      else more++
    }
    const runs = await this.#runsAsRows(store)
    for (const name of DERIVED_SUBLEVELS) {
      // A store not yet upgraded has no index of run events (the upgrade builds it from the log).
      if (name === 'runEvents' && runs !== store) continue
      const stored = name === 'runs' || name === 'checkpoints' ? runs : store
      await compareSublevel(name, stored.sub[name], this.#scratch.sub[name], report, signal)
    }
    if (more > 0) problems.push(`projections: ${more} more differences (run "snapstore reindex" to rebuild them)`)
    return problems
  }

  /**
   * The store itself, or for a store not yet upgraded (only read so far, or cut short), which keeps some run
   * checkpoints inside the run records, a copy of its run records and checkpoint rows in the scratch
   * directory, split as the upgrade would split them: compared with the rebuild, it shows what the store
   * will read as.
   */
  async #runsAsRows (store: Store): Promise<Store> {
    if (!needsUpgrade(store)) return store
    const copy = await initStore(join(this.#dir, 'runs')).catch((err: unknown) => { throw scratchError(err) })
    this.#runsCopy = copy
    for (const name of ['runs', 'checkpoints'] as const) {
      const iterator = store.sub[name].iterator()
      try {
        for (let rows = await iterator.nextv(PAGE); rows.length > 0; rows = await iterator.nextv(PAGE)) {
          await writeBatch(copy, rows.map(([key, value]) => ({ type: 'put', sublevel: name, key, value })), false)
        }
      } finally {
        await iterator.close()
      }
    }
    await splitCheckpointRecords(copy)
    return copy
  }

  /** Closes and removes the scratch stores. */
  async close (): Promise<void> {
    if (this.#runsCopy !== undefined) await closeStore(this.#runsCopy).catch(() => undefined)
    await closeStore(this.#scratch).catch(() => undefined)
    // One that cannot be removed now is removed by the next verify, once this process has ended.
    await rm(this.#dir, { recursive: true, force: true }).catch(() => undefined)
  }

  async #commit (): Promise<void> {
    const batch = this.#batch
    this.#batch = []
    if (this.#failure !== undefined || batch.length === 0) return
    try {
      await this.#committer.commit(batch, false)
    } catch (err) {
      this.#failed(err)
    }
  }

  /** A projection the log cannot give is a problem of the store; a scratch store that cannot be written is an error of the verify. */
  #failed (err: unknown): void {
    if (levelErrorCode(err) !== undefined || isSystemError(err)) throw scratchError(err)
    this.fail(isSnapstoreError(err) ? err.message : String(err))
  }
}

/** The error a scratch store that cannot be made or written gives: the store verified is not at fault. */
function scratchError (err: unknown): Error {
  if (isSnapstoreError(err) && err.code !== 'E_CORRUPT' && err.code !== 'E_BAD_INPUT') return err
  const cause = (err as { cause?: unknown }).cause
  const message = (cause instanceof Error ? cause : err as Error).message
  return new BadInputError(`Cannot write the scratch store for the rebuild in "${tmpdir()}": ${message} (it needs free space up to the size of the store's database; set TMPDIR to choose where)`, { cause: err })
}

/**
 * Walks a stored keyspace and its rebuild side by side, in key order, reporting each row that is absent from
 * one or differs. Keys are compared as the bytes LevelDB orders them by, so even a key that is not UTF-8
 * keeps the walk in step; they are decoded only to be named.
 */
async function compareSublevel (name: SublevelName, stored: Sublevel, rebuilt: Sublevel, report: (problem: string) => void, signal: AbortSignal | undefined): Promise<void> {
  const have = new Rows(stored)
  const want = new Rows(rebuilt)
  try {
    await Promise.all([have.fill(), want.fill()])
    for (;;) {
      const a = have.row
      const b = want.row
      if (a === undefined && b === undefined) return
      const order = a === undefined ? 1 : b === undefined ? -1 : Buffer.compare(a[0], b[0])
      if (order < 0) report(`projection ${name} ${keyText(a![0])}: present, but a rebuild does not have it`)
      else if (order > 0) report(`projection ${name} ${keyText(b![0])}: missing`)
      else if (Buffer.compare(a![1], b![1]) !== 0) report(`projection ${name} ${keyText(a![0])}: differs from a rebuild`)
      if (order <= 0 && !have.step()) {
        signal?.throwIfAborted()
        await have.fill()
      }
      if (order >= 0 && !want.step()) await want.fill()
    }
  } finally {
    await Promise.all([have.close(), want.close()])
  }
}

/** A key as text for a message. */
function keyText (key: Buffer): string {
  return key.toString('utf8')
}

/** An iterator of a keyspace with keys as bytes. */
interface ByteRowIterator {
  nextv: (size: number) => Promise<Array<[Buffer, Uint8Array]>>
  close: () => Promise<void>
}

/** A keyspace's rows in key order with keys as bytes, read a page at a time: `row` is the current one, undefined past the end. */
class Rows {
  readonly #iterator: ByteRowIterator
  #page: Array<[Buffer, Uint8Array]> = []
  #at = 0

  constructor (sublevel: Sublevel) {
    this.#iterator = sublevel.iterator({ ...BULK_READ, keyEncoding: 'buffer' }) as unknown as ByteRowIterator
  }

  get row (): [Buffer, Uint8Array] | undefined {
    return this.#page[this.#at]
  }

  /** Moves to the next row of the page; false when the page is used up (then `fill`). */
  step (): boolean {
    return ++this.#at < this.#page.length
  }

  /** Reads the next page. */
  async fill (): Promise<void> {
    this.#page = await this.#iterator.nextv(PAGE)
    this.#at = 0
  }

  async close (): Promise<void> {
    await this.#iterator.close()
  }
}
