import { mkdir, readdir, realpath, stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { decode, encode } from './codec.ts'
import { BadInputError, CorruptError, ExistsError, LockedError, NoStoreError, VersionError } from './errors.ts'
import { newOrigin } from './ids.ts'
import { findLockHolder } from './lock-holder.ts'
import { withoutBlobPuts } from './blob-writers.ts'
import { assertOpen, isClosed, markClosed } from './closed-stores.ts'
import { CHUNKING, isChunkingParams } from './chunking/cdc.ts'
import { Packs } from './packs/packs.ts'
import { holdPoolNudge, releasePoolNudge } from './pool-nudge.ts'
import { splitCheckpointRecords } from './projections/checkpoint-rows.ts'
import { indexRunEvents } from './projections/run-events.ts'
import { OUT_OF_SPACE, describeSystemError } from './system-errors.ts'
import type { ChunkingParams } from './chunking/cdc.ts'
import type { AbstractSublevel } from 'abstract-level'

/**
 * The store format this code writes; a store with a higher one is refused with `E_VERSION`.
 * Format 3 keeps each checkpoint of a run as a row of its own; format 2 kept them all in the run's record.
 * Format 2 keeps chunk bytes in pack files; format 1 kept them in the database, where they are still read.
 */
export const FORMAT_VERSION = 3

/** Every keyspace of a store, one sublevel each. */
export const SUBLEVELS = {
  /** format, origin, clock, chunking (format 1: chunkSize), upgrading (while an upgrade is unfinished) */
  meta: 'meta',
  /** origin → { seq, head }: the version vector with head ids */
  heads: 'heads',
  /** hex digest → blob record { size, chunks } */
  blob: 'blob',
  /** hex digest → [pack, offset, size]: where a chunk's bytes lie in the packs */
  chunkAt: 'chunk-at',
  /** hex digest → chunk bytes, as format 1 kept them: read, never written */
  chunk: 'chunk',
  /** origin:seq → event bytes (the log) */
  event: 'event',
  /** clock:origin:seq → empty (the total order; the key says where the event lies) */
  order: 'order',
  /** hex digest of an event id → origin:seq */
  eventId: 'eid',
  /** hex digest → blob projection */
  blobs: 'p-blob',
  /** kind:clock:origin:seq:digest → blob CID string (listing in order of first appearance) */
  kinds: 'p-kind',
  /** md5:MD5:digest → blob CID string (ids from other tools, such as the wepy orchestrator's MD5s) */
  aliases: 'p-alias',
  /** tag name → tag projection */
  tags: 'p-tag',
  /** clock:origin:seq:name → empty (tags in order of first appearance) */
  tagOrder: 'p-tag-order',
  /** clock:origin:seq of an origin's first event → origin (origins in order of first appearance) */
  origins: 'p-origin',
  /** hex digest of a run id → run projection */
  runs: 'p-run',
  /** run digest:clock:origin:seq → checkpoint { snapshot, cycle, at } (a run's checkpoints, one row each) */
  checkpoints: 'p-run-checkpoint',
  /** run digest:clock:origin:seq → empty (every event of a run: its start, checkpoints, end or failure) */
  runEvents: 'p-run-event',
  /** clock:origin:seq:digest → run id string (runs in order of first appearance) */
  runOrder: 'p-run-order',
  /** run key:digest → empty (runs by run key, for memoisation) */
  runKeys: 'p-run-key',
  /** snapshot digest:role:clock:origin:seq:run digest → empty (lineage: runs from, and runs that produced, a snapshot) */
  lineage: 'p-lineage',
  /** time:random → merge journal entry (local to this store, never replicated) */
  journal: 'journal'
} as const

/** The name by which code addresses one sublevel. */
export type SublevelName = keyof typeof SUBLEVELS

/** Sublevels that hold only what can be rebuilt from the log; `reindex` clears and rewrites them. */
export const DERIVED_SUBLEVELS: readonly SublevelName[] = ['order', 'eventId', 'blobs', 'kinds', 'aliases', 'tags', 'tagOrder', 'origins', 'runs', 'checkpoints', 'runEvents', 'runOrder', 'runKeys', 'lineage']

type Database = ClassicLevel<string, Uint8Array>
/** One keyspace of a store: string keys, byte values. */
export type Sublevel = AbstractSublevel<Database, string | Buffer | Uint8Array, string, Uint8Array>

/** Options for opening a store. */
export interface StoreInit {
  /** Seconds to wait for another process to release the store before `E_LOCKED`. @default 5 */
  wait?: number
  /** Stops waiting for another process (then `E_LOCKED` at once) when aborted. */
  signal?: AbortSignal
  /**
   * Complete a `reindex` that was cut short, whose projections are incomplete, before giving the store back.
   * Only a reader of the log and blobs alone (a merge's source, which is never written) turns it off. @default true
   */
  finishReindex?: boolean
}

/** An open store: one LevelDB database and what this process knows of its metadata. */
export interface Store {
  readonly path: string
  readonly db: Database
  readonly origin: string
  readonly host: string
  /** The Lamport clock: the highest clock of any event this store holds. */
  clock: number
  /** Sublevel handles by name. */
  readonly sub: Record<SublevelName, Sublevel>
  /** The pack files that hold chunk bytes. */
  readonly packs: Packs
  /** How new blobs are cut into chunks. */
  readonly chunking: ChunkingParams
  /** The store's format version (an older one until this snapstore first writes to a store of that format). */
  format: number
  /** True while an upgrade to the current format is unfinished: some run records still hold their checkpoints. */
  upgrading: boolean
  /** True for stores begun in format 1, whose older chunks lie in the database. */
  readonly inlineChunks: boolean
  /** Serialises writers inside this process. */
  queue: Promise<unknown>
}

// Tuned for large values: the default 4 MiB write buffer stalls on snapshot bytes (measured 53 vs 190 MiB/s for 64 KiB values).
const LEVEL_OPTIONS = {
  keyEncoding: 'utf8',
  valueEncoding: 'view',
  writeBufferSize: 64 * 1024 * 1024,
  maxFileSize: 64 * 1024 * 1024,
  cacheSize: 16 * 1024 * 1024
} as const

/**
 * Options for an iterator that reads many rows in order: each read of LevelDB's binding gathers up to
 * 1 MiB of rows, where its default of 16 KiB gives about 80 events, and a merge's checks then waited
 * on a read every 80 events. `reverse: false` is the default; it names an option abstract-level's types
 * know, so the object type-checks where only iterator options are expected.
 */
export const BULK_READ = { highWaterMarkBytes: 1024 * 1024, reverse: false } as const

function databasePath (path: string): string {
  return join(path, 'db')
}

/**
 * Creates an empty store in `path` (absent, or an empty directory) and returns it open.
 * @example
 * const store = await initStore('./my-store')
 * console.log(store.origin)
 * await closeStore(store)
 */
export async function initStore (path: string, init: StoreInit = {}): Promise<Store> {
  if (path === '') throw new BadInputError('Cannot create a store: the path is empty')
  const existing = await stat(path).catch(() => undefined)
  if (existing !== undefined && !existing.isDirectory()) throw new ExistsError(`Cannot create store "${path}": a file of that name exists`)
  const entries = await readdir(path).catch((err: NodeJS.ErrnoException): string[] => {
    if (err.code === 'ENOENT') return []
    throw new BadInputError(`Cannot create store "${path}": ${describeSystemError(err.code ?? '')}`, { cause: err })
  })
  if (entries.includes('db')) throw new ExistsError(`Cannot create store "${path}": it is already a store`)
  if (entries.length > 0) throw new ExistsError(`Cannot create store "${path}": the directory is not empty`)
  await mkdir(path, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new BadInputError(`Cannot create store "${path}": ${describeSystemError(err.code ?? '')}`, { cause: err })
  })
  const db = new ClassicLevel<string, Uint8Array>(databasePath(path), { ...LEVEL_OPTIONS, createIfMissing: true, errorIfExists: true })
  await db.open()
  const meta = db.sublevel<string, Uint8Array>(SUBLEVELS.meta, { valueEncoding: 'view' })
  await db.batch([
    { type: 'put', sublevel: meta, key: 'format', value: encode(FORMAT_VERSION) },
    { type: 'put', sublevel: meta, key: 'origin', value: encode(newOrigin()) },
    { type: 'put', sublevel: meta, key: 'clock', value: encode(0) },
    { type: 'put', sublevel: meta, key: 'chunking', value: encode(CHUNKING) }
  ], { sync: true })
  await db.close()
  return await openStore(path, init)
}

/**
 * Opens an existing store, waiting up to `init.wait` seconds while another process holds it.
 * @example
 * const store = await openStore('./my-store')
 * try { for await (const blob of listBlobs(store, 'snapshot')) console.log(blob.id.toString()) } finally { await closeStore(store) }
 */
export async function openStore (path: string, init: StoreInit = {}): Promise<Store> {
  const info = await stat(path).catch(() => undefined)
  if (info === undefined) throw new NoStoreError(`Cannot open store "${path}": no such directory`)
  if (!info.isDirectory()) throw new NoStoreError(`Cannot open store "${path}": it is a file, not a store directory`)
  const current = await stat(join(databasePath(path), 'CURRENT')).catch(() => undefined)
  if (current === undefined) throw new NoStoreError(`Cannot open store "${path}": not a snapstore store (run "snapstore init" to create one)`)
  const db = await openDatabase(path, init.wait ?? 5, init.signal)
  try {
    const sub = Object.fromEntries(Object.entries(SUBLEVELS).map(([name, prefix]) => [name, db.sublevel<string, Uint8Array>(prefix, { valueEncoding: 'view' })])) as Record<SublevelName, Sublevel>
    const [format, origin, clock, chunking, chunkSize, upgrading, reindexing] = await sub.meta.getMany(['format', 'origin', 'clock', 'chunking', 'chunkSize', 'upgrading', REINDEXING])
    if (format === undefined || origin === undefined || clock === undefined) {
      throw new NoStoreError(`Cannot open store "${path}": the database holds no snapstore metadata`)
    }
    const version = decode<number>(format)
    if (version > FORMAT_VERSION) {
      throw new VersionError(`Cannot open store "${path}": it has format version ${version}, this snapstore reads up to ${FORMAT_VERSION}; upgrade snapstore`)
    }
    const params = chunking === undefined ? CHUNKING : decode<unknown>(chunking)
    if (!isChunkingParams(params)) throw new CorruptError(`Cannot open store "${path}": its chunking parameters are not ones this snapstore knows`)
    const store: Store = {
      path: resolve(path),
      db,
      origin: decode<string>(origin),
      host: hostname(),
      clock: decode<number>(clock),
      sub,
      queue: Promise.resolve(),
      packs: new Packs(resolve(path)),
      chunking: params,
      format: version,
      upgrading: upgrading !== undefined,
      inlineChunks: chunkSize !== undefined
    }
    if (reindexing !== undefined && init.finishReindex !== false) await (await import('./rebuild.ts')).reindex(store, init.signal === undefined ? {} : { signal: init.signal })
    return store
  } catch (err) {
    await closeDatabase(db)
    throw err
  }
}

/** The metadata key of the note that a reindex has cleared the projections and not yet rebuilt them all. */
export const REINDEXING = 'reindexing'

// Databases this process has open, by real path. LevelDB refuses a second open of a database in one
// process, but the way it refuses closes a descriptor of the LOCK file, and that drops the process's
// lock on it (a POSIX lock belongs to the process, and goes with any descriptor of the file): another
// process could then open the store as well. So a second open in this process is refused here, before
// LevelDB sees it, and waited for as another process would be.
const openHere = new Set<string>()
const openPaths = new WeakMap<Database, string>()

async function openDatabase (path: string, waitSeconds: number, signal: AbortSignal | undefined): Promise<Database> {
  const deadline = Date.now() + waitSeconds * 1000
  const key = await realpath(databasePath(path))
  for (let delay = 25; ; delay = Math.min(delay * 2, 250)) {
    const late = Date.now() >= deadline || signal?.aborted === true
    if (openHere.has(key)) {
      if (late) {
        throw new LockedError(`Cannot open store "${path}": this process has it open already; close it first, or pass --wait SECONDS`,
          { details: { path, holder: `process ${process.pid} (this process)`, pid: process.pid } })
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))))
      continue
    }
    const db = new ClassicLevel<string, Uint8Array>(databasePath(path), { ...LEVEL_OPTIONS, createIfMissing: false })
    openHere.add(key)
    openPaths.set(db, key)
    try {
      await db.open()
      holdPoolNudge()
      return db
    } catch (err) {
      openHere.delete(key)
      const cause = (err as { cause?: { code?: string, message?: string } }).cause
      const why = cause?.message ?? (err as Error).message
      if (cause?.code === 'LEVEL_CORRUPTION') throw new CorruptError(`Cannot open store "${path}": its database is damaged (${why})`, { cause: err })
      if (cause?.code === 'LEVEL_IO_ERROR') {
        if (/permission denied/i.test(why)) throw new BadInputError(`Cannot open store "${path}": permission denied (its files must be readable and writable by this user)`, { cause: err })
        // Opening writes a new log file: a full disk refuses it, and the store is as it was.
        if (OUT_OF_SPACE.test(why)) throw new BadInputError(`Cannot open store "${path}": no space left on the device (opening a store writes to it)`, { cause: err })
        // The files LevelDB keeps its state in are missing or unreadable: the store is there, but damaged.
        throw new CorruptError(`Cannot open store "${path}": its database is damaged (${why})`, { cause: err })
      }
      if (cause?.code !== 'LEVEL_LOCKED') throw new NoStoreError(`Cannot open store "${path}": ${why}`, { cause: err })
      if (Date.now() >= deadline || signal?.aborted === true) {
        const holder = await findLockHolder(join(databasePath(path), 'LOCK'))
        throw new LockedError(
          `Cannot open store "${path}": ${holder?.description ?? 'another process'} has it open; wait for it to finish, stop it, or pass --wait SECONDS`,
          { cause: err, details: { path, holder: holder?.description, pid: holder?.pid } })
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, Math.max(0, deadline - Date.now()))))
    }
  }
}

/** Closes a store after the writes in progress (appends, merges, blobs being put); closing it again does nothing. */
export async function closeStore (store: Store): Promise<void> {
  if (isClosed(store)) return
  // In turn after every write asked for before, and with no blob being put: what is asked later is refused.
  await exclusive(store, async () => { await withoutBlobPuts(store, async () => { markClosed(store) }) }).catch(() => undefined)
  await store.packs.close()
  await closeDatabase(store.db)
}

/** Closes a database opened by `openDatabase`; this process may open it again. */
async function closeDatabase (db: Database): Promise<void> {
  try {
    await db.close()
  } finally {
    const key = openPaths.get(db)
    if (key !== undefined && openHere.delete(key)) releasePoolNudge()
  }
}

/**
 * Brings a store of an older format to the current one before this snapstore first writes to it (reading
 * leaves it as it is). The format is raised first, with a note that the upgrade is unfinished, in one
 * synced write: from then on an older snapstore, which would not find chunks in packs or checkpoints in
 * rows, refuses the store with `E_VERSION` instead of misreading it. Then run checkpoints move out of the
 * run records into rows of their own, in batches, the log's run events are indexed by run, and the note
 * is removed. An upgrade cut short is completed by the next write; readers meanwhile read each run
 * record as it is. Callers in this process share one upgrade per store.
 */
export async function upgradeFormat (store: Store): Promise<void> {
  if (!needsUpgrade(store)) return
  let upgrade = upgrades.get(store)
  if (upgrade === undefined) {
    upgrade = completeUpgrade(store).finally(() => upgrades.delete(store))
    upgrades.set(store, upgrade)
  }
  await upgrade
}

const upgrades = new WeakMap<Store, Promise<void>>()

/** True for a store of an older format, or one whose upgrade was cut short: `upgradeFormat` has work to do. */
export function needsUpgrade (store: Store): boolean {
  return store.format < FORMAT_VERSION || store.upgrading
}

async function completeUpgrade (store: Store): Promise<void> {
  const meta = store.sub.meta.prefix
  if (store.format < FORMAT_VERSION) {
    await store.db.batch([
      { type: 'put', key: `${meta}format`, value: encode(FORMAT_VERSION) },
      { type: 'put', key: `${meta}chunking`, value: encode(store.chunking) },
      { type: 'put', key: `${meta}upgrading`, value: encode(true) }
    ], { sync: true })
    store.format = FORMAT_VERSION
    store.upgrading = true
  }
  await splitCheckpointRecords(store)
  await indexRunEvents(store)
  await store.db.del(`${meta}upgrading`, { sync: true })
  store.upgrading = false
}

const openInThisProcess = new Map<string, Promise<unknown>>()

/**
 * Opens the store at `path`, runs `work` with it, and closes it whatever happens. Callers in this
 * process take turns (LevelDB admits one opener); other processes are waited for up to `init.wait`.
 */
export async function withStore<T> (path: string, init: StoreInit, work: (store: Store) => Promise<T>): Promise<T> {
  const key = resolve(path)
  const turn = (openInThisProcess.get(key) ?? Promise.resolve()).catch(() => undefined).then(async () => {
    const store = await openStore(path, init)
    try {
      return await work(store)
    } finally {
      await closeStore(store)
    }
  })
  const settled = turn.catch(() => undefined)
  openInThisProcess.set(key, settled)
  void settled.then(() => { if (openInThisProcess.get(key) === settled) openInThisProcess.delete(key) })
  return await turn
}

/** Runs `work` after every earlier writer of this store in this process has finished. */
export function exclusive<T> (store: Store, work: () => Promise<T>): Promise<T> {
  const turn = async (): Promise<T> => {
    assertOpen(store)
    return await work()
  }
  const result = store.queue.then(turn, turn)
  store.queue = result.catch(() => undefined)
  return result
}
