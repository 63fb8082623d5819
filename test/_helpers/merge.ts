import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { join, resolve } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { closeStore, initStore, isSnapstoreError, iterateLog, listBlobIds, listHeads, listTags, openStore, storeStats } from '../../src/index.ts'
import { exportCar } from '../../src/car.ts'
import { mergeStores } from '../../src/merge/merge-stores.ts'
import { DERIVED_SUBLEVELS, SUBLEVELS } from '../../src/store.ts'
import { CLI, collect, rawSublevel as rawSub, seededBytes, tempDir, withRawDb } from './store.ts'
import { codec } from '../../src/index.ts'
import type { Callback, Test } from 'uvu'
import type { StoreStats, Store } from '../../src/index.ts'
import type { MergeResult } from '../../src/merge/engine.ts'
import type { SublevelName } from '../../src/store.ts'
import type { RawDb } from './store.ts'

/** The built library entry point, for child processes that open a store themselves. */
export const LIBRARY_JS = resolve(CLI, '../../index.js')

/**
 * Stores under one temp directory, opened on demand and kept open until closed: LevelDB allows one
 * opener, so a store must be closed before `mergeStores` reads it by path.
 */
export class Workspace {
  readonly dir: string
  readonly #open = new Map<string, Store>()
  /** CAR files already exported, by store path, with the version vector they carry. */
  readonly exports = new Map<string, { heads: string, car: string }>()
  readonly #dispose: () => Promise<void>
  #files = 0

  private constructor (dir: string, dispose: () => Promise<void>) {
    this.dir = dir
    this.#dispose = dispose
  }

  /** A workspace in a fresh temp directory. */
  static async create (): Promise<Workspace> {
    const { dir, dispose } = await tempDir()
    return new Workspace(dir, dispose)
  }

  /** The absolute path of `name` inside the workspace. */
  path (name: string): string {
    return join(this.dir, name)
  }

  /** A path for a new scratch file ending in `suffix`, unique in this workspace. */
  scratch (suffix: string): string {
    return this.path(`scratch-${++this.#files}${suffix}`)
  }

  /** Creates a store named `name` and keeps it open. */
  async init (name: string): Promise<Store> {
    const path = this.path(name)
    const store = await initStore(path)
    this.#open.set(path, store)
    return store
  }

  /** The open store at `nameOrPath`, opening it when closed. */
  async open (nameOrPath: string): Promise<Store> {
    const path = resolve(this.dir, nameOrPath)
    const known = this.#open.get(path)
    if (known !== undefined) return known
    const store = await openStore(path)
    this.#open.set(path, store)
    return store
  }

  /** Closes the store at `nameOrPath` if it is open. */
  async close (nameOrPath: string): Promise<void> {
    const path = resolve(this.dir, nameOrPath)
    const store = this.#open.get(path)
    if (store === undefined) return
    this.#open.delete(path)
    await closeStore(store)
  }

  /** Closes every store this workspace opened. */
  async closeAll (): Promise<void> {
    for (const path of [...this.#open.keys()]) await this.close(path)
  }

  /** Closes everything and removes the directory. */
  async dispose (): Promise<void> {
    await this.closeAll().catch(() => undefined)
    await this.#dispose()
  }
}

/** The context of suites whose every test gets a fresh workspace. */
export interface WorkspaceContext {
  ws: Workspace
}

/** A uvu suite whose `before.each` makes a fresh workspace and whose `after.each` removes it. */
export function workspaceSuite (name: string): Test<WorkspaceContext> {
  const s = guardedSuite<WorkspaceContext>(name, {} as WorkspaceContext)
  s.before.each(async (ctx) => { ctx.ws = await Workspace.create() })
  s.after.each(async (ctx) => { await ctx.ws.dispose() })
  return s
}

/**
 * A uvu suite whose tests rethrow unexpected snapstore errors as plain errors. uvu 0.5 reads an error's
 * `details` as a diff string: a SnapstoreError (whose `details` is an object) escaping a test makes its
 * reporter throw, which drops the failure from the report and from the exit status.
 */
export function guardedSuite<T> (name: string, context: T): Test<T> {
  const s = suite<T>(name, context)
  const guard = (handler: Callback<T>): Callback<T> => async (ctx) => {
    try {
      await handler(ctx)
    } catch (err) {
      throw plainError(err)
    }
  }
  const test = ((title: string, handler: Callback<T>) => { s(title, guard(handler)) }) as Test<T>
  test.only = (title, handler) => { s.only(title, guard(handler)) }
  test.skip = s.skip
  test.before = s.before
  test.after = s.after
  test.run = s.run
  return test
}

function plainError (err: unknown): unknown {
  if (!isSnapstoreError(err)) return err
  const plain = new Error(`${err.code}: ${err.message}`, { cause: err })
  plain.stack = `Error: ${plain.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`
  return plain
}

/** A way to bring one store's history into another: by its directory, or through a CAR file. */
export interface Transport {
  name: string
  /** Merges the store at `sourcePath` (a store of `ws`) into the open `dest`. */
  merge: (ws: Workspace, dest: Store, sourcePath: string) => Promise<MergeResult>
}

/** Merges from the source's store directory (closed first: the merge opens it itself). */
export const directoryTransport: Transport = {
  name: 'store directory',
  merge: async (ws, dest, sourcePath) => {
    if (resolve(sourcePath) !== dest.path) await ws.close(sourcePath)
    return await mergeStores(dest, sourcePath)
  }
}

/** Exports the whole source to a CAR file (unless one of the same version vector exists), then merges from that file. */
export const carTransport: Transport = {
  name: 'CAR file',
  merge: async (ws, dest, sourcePath) => {
    const source = await ws.open(sourcePath)
    const heads = (await headLines(source)).join('\n')
    let car = ws.exports.get(source.path)
    if (car?.heads !== heads) {
      car = { heads, car: ws.scratch('.car') }
      await exportCar(source, car.car)
      ws.exports.set(source.path, car)
    }
    return await mergeStores(dest, car.car)
  }
}

/** What `ls snapshots|configs|blobs|tags` and `ls origins -l` print, line by line, through the library the CLI uses. */
export interface Listing {
  snapshots: string[]
  configs: string[]
  blobs: string[]
  tags: string[]
  heads: string[]
}

/** The store's listings, in the order `ls` prints them. */
export async function listing (store: Store): Promise<Listing> {
  return {
    snapshots: await collect(listBlobIds(store, 'snapshot')),
    configs: await collect(listBlobIds(store, 'config')),
    blobs: await collect(listBlobIds(store, 'blob')),
    tags: (await collect(listTags(store))).map((tag) => `${tag.name}\t${tag.target.toString()}`),
    heads: await headLines(store)
  }
}

/** The version vector with head ids, one `origin seq head` line per origin. */
export async function headLines (store: Store): Promise<string[]> {
  return (await listHeads(store)).map((head) => `${head.origin} ${head.seq} ${head.head.toString()}`)
}

/** Every key and value (as hex) of the projections `reindex` rebuilds. */
export async function dumpDerived (store: Store): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  for (const name of DERIVED_SUBLEVELS) {
    const entries: string[] = []
    for await (const [key, value] of store.sub[name].iterator()) entries.push(`${key} ${Buffer.from(value).toString('hex')}`)
    out[name] = entries
  }
  return out
}

/** Every `origin:seq` of the log with the sha-256 of its stored bytes. */
export async function eventDigests (store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for await (const [key, value] of store.sub.event.iterator()) out.set(key, sha256Hex(value))
  return out
}

/** Every blob record key with the sha-256 of its record. */
export async function blobRecordDigests (store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for await (const [key, value] of store.sub.blob.iterator()) out.set(key, sha256Hex(value))
  return out
}

/** The hex sha-256 of bytes. */
export function sha256Hex (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** Every key of a closed store's database, with the sha-256 of its value, optionally leaving some sublevels out. */
export async function dumpDb (path: string, leaveOut: readonly SublevelName[] = []): Promise<string[]> {
  const prefixes = leaveOut.map((name) => `!${SUBLEVELS[name]}!`)
  return await withRawDb(path, async (db) => {
    const out: string[] = []
    for await (const [key, value] of db.iterator()) {
      if (!prefixes.some((prefix) => key.startsWith(prefix))) out.push(`${key} ${sha256Hex(value)}`)
    }
    return out
  })
}

/** The number of keys in one sublevel of a closed store. */
export async function countKeys (path: string, name: SublevelName): Promise<number> {
  return await withRawDb(path, async (db) => {
    let n = 0
    for await (const key of rawSub(db, name).keys()) { void key; n++ }
    return n
  })
}

/** The bytes of every chunk the (closed) store at `path` holds in its packs. */
export async function heldChunkBytes (path: string): Promise<number> {
  return await withRawDb(path, async (db) => {
    let total = 0
    for await (const value of rawSub(db, 'chunkAt').values()) total += codec.decode<[number, number, number]>(value)[2]
    return total
  })
}

/** Everything that shows whether a store changed: listings, the log, stats and the whole raw database. */
export interface StoreState {
  listing: Listing
  /** Event ids in the order `log` prints them. */
  log: string[]
  /** With the number and size of the pack files: a refused merge takes back the bytes it appended. */
  stats: Omit<StoreStats, 'dedupRatio'> & { dedupRatio: string }
  dump: string[]
  blobRows: number
  chunkRows: number
}

/** Records a store's state, leaving it closed: open it first with `ws.open` if it must stay open. */
export async function storeState (ws: Workspace, nameOrPath: string): Promise<StoreState> {
  const path = resolve(ws.dir, nameOrPath)
  const store = await ws.open(path)
  const stats = await storeStats(store)
  const view = await listing(store)
  const log = (await collect(iterateLog(store))).map((stored) => stored.id.toString())
  await ws.close(path)
  return {
    listing: view,
    log,
    stats: { ...stats, dedupRatio: stats.dedupRatio.toFixed(6) },
    dump: await dumpDb(path),
    blobRows: await countKeys(path, 'blob'),
    chunkRows: await countKeys(path, 'chunkAt')
  }
}

/** Asserts that a store is exactly as recorded, key by key. */
export function assertSameState (after: StoreState, before: StoreState, what: string): void {
  assert.equal(after.listing, before.listing, `${what}: listings`)
  assert.equal(after.log, before.log, `${what}: the log`)
  assert.equal(after.stats, before.stats, `${what}: storeStats`)
  assert.is(after.blobRows, before.blobRows, `${what}: rows in the 'blob' sublevel`)
  assert.is(after.chunkRows, before.chunkRows, `${what}: rows in the 'chunkAt' sublevel`)
  assert.equal(after.dump, before.dump, `${what}: every key and value of the database`)
}

/** A child process holding a store open until released. */
export interface Holder {
  release: () => Promise<void>
}

/** Opens the store at `path` in a child node process (importing the built library) and resolves once it printed `ready`. */
export async function holdOpen (path: string): Promise<Holder> {
  const script = [
    `import { openStore } from ${JSON.stringify(LIBRARY_JS)}`,
    `await openStore(${JSON.stringify(path)}, { wait: 0 })`,
    "process.stdout.write('ready\\n')",
    'setInterval(() => {}, 60000)'
  ].join('\n')
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()))
  await new Promise<void>((resolveReady, reject) => {
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      if (out.includes('ready\n')) resolveReady()
    })
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString('utf8') })
    child.once('error', reject)
    child.once('exit', (status) => reject(new Error(`the holder exited with ${String(status)} before it was ready: ${err}`)))
  })
  return {
    release: async () => {
      child.kill('SIGKILL')
      await exited
    }
  }
}

export { collect, rawSub, seededBytes, withRawDb }
export type { RawDb }
