import { spawn } from 'node:child_process'
import { appendFile, cp, mkdtemp, open, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ClassicLevel } from 'classic-level'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { chunkEnds, closeStore, initStore, isSnapstoreError, iterateLog, openStore } from '../../src/index.ts'
import { createHash } from 'node:crypto'
import { decode, encode } from '../../src/codec.ts'
import { sealEvent } from '../../src/event-format.ts'
import { EventCommitter, checkReferences } from '../../src/log.ts'
import { DERIVED_SUBLEVELS, SUBLEVELS, exclusive } from '../../src/store.ts'
import type { ChildProcess } from 'node:child_process'
import type { Test } from 'uvu'
import type { ErrorCode, EventDraft, EventType, SnapEvent, SnapstoreError, Store, StoredEvent } from '../../src/index.ts'
import type { Sublevel, SublevelName } from '../../src/store.ts'

const HERE = fileURLToPath(new URL('.', import.meta.url))

/** The built CLI entry point. */
export const CLI = resolve(HERE, '../../src/cli/bin.js')

/** The built library entry point, for child processes. */
export const LIBRARY = resolve(HERE, '../../src/index.js')

/** A file under the repository's `fixtures/` directory (tests run from `dist/test`). */
export function fixturePath (name: string): string {
  return resolve(HERE, '../../../fixtures', name)
}

/** A store's LevelDB database opened directly, bypassing snapstore. */
export type RawDb = ClassicLevel<string, Uint8Array>

/** A store in a fresh temp directory, with a way to dispose of it. */
export interface TempStore {
  dir: string
  path: string
  /** The open store; `reopen` and `editRaw` replace it. */
  store: Store
  /** Closes the store; safe to call twice. */
  close: () => Promise<void>
  /** Closes the store and opens it again. */
  reopen: () => Promise<Store>
  /** Closes the store, runs `edit` on its LevelDB database opened directly, then opens the store again. */
  editRaw: (edit: (db: RawDb) => Promise<void>) => Promise<Store>
  dispose: () => Promise<void>
}

/** The context of a suite whose every test gets a fresh store. */
export interface StoreContext {
  t: TempStore
}

/** A uvu suite whose `before.each` makes a fresh store on disk and whose `after.each` disposes of it. */
export function storeSuite (name: string): Test<StoreContext> {
  const s = specSuite<StoreContext>(name, {} as StoreContext)
  s.before.each(async (ctx) => { ctx.t = await tempStore() })
  s.after.each(async (ctx) => { await ctx.t.dispose() })
  return s
}

/**
 * A uvu suite that reports an unexpected snapstore error like any other failure. uvu reads an error's
 * `details` as a diff string, and a `SnapstoreError` carries an object there, which makes uvu drop the
 * failure and the rest of the suite without a word; tests in these suites rethrow it as a plain Error.
 */
export function specSuite<T = Record<string, never>> (name: string, context?: T): Test<T> {
  const s = suite<T>(name, context)
  const register = (title: string, handler: (ctx: T) => unknown): void => {
    s(title, async (ctx) => {
      try {
        await handler(ctx)
      } catch (err) {
        if (!isSnapstoreError(err)) throw err
        const plain = new Error(`unexpected ${err.code}: ${err.message}`, { cause: err })
        plain.stack = `${plain.message}\n${err.stack?.split('\n').slice(1).join('\n') ?? ''}`
        throw plain
      }
    })
  }
  return Object.assign(register, s) as unknown as Test<T>
}

/** What a suite over a copy of a stored fixture gives each test. */
export interface FixtureCopy {
  dir: string
  /** The copy of the fixture (opening a store rewrites LevelDB's own files, so tests never open the fixture itself). */
  copy: string
  dispose: () => Promise<void>
}

/** A suite whose every test gets a fresh copy of the fixture directory `fixture`, in a temp directory. */
export function fixtureCopySuite (name: string, fixture: string): Test<FixtureCopy> {
  const s = specSuite<FixtureCopy>(name, {} as FixtureCopy)
  s.before.each(async (ctx) => {
    const { dir, dispose } = await tempDir()
    Object.assign(ctx, { dir, dispose, copy: join(dir, fixture) })
    await cp(fixturePath(fixture), ctx.copy, { recursive: true })
  })
  s.after.each(async (ctx) => { await ctx.dispose() })
  return s
}

/** A fresh temp directory removed by `dispose`. */
export async function tempDir (): Promise<{ dir: string, dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'snapstore-test-'))
  return { dir, dispose: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** Creates a real store on disk in a new temp directory, open. */
export async function tempStore (): Promise<TempStore> {
  const { dir, dispose } = await tempDir()
  const path = join(dir, 'store')
  let open = true
  const t: TempStore = {
    dir,
    path,
    store: await initStore(path),
    close: async () => {
      if (open) { open = false; await closeStore(t.store) }
    },
    reopen: async () => {
      await t.close()
      t.store = await openStore(path)
      open = true
      return t.store
    },
    editRaw: async (edit) => {
      await t.close()
      await withRawDb(path, edit)
      return await t.reopen()
    },
    dispose: async () => {
      await t.close().catch(() => undefined)
      await dispose()
    }
  }
  return t
}

/** Opens the database of the (closed) store at `path` directly with classic-level, runs `work`, and closes it. */
export async function withRawDb<T> (path: string, work: (db: RawDb) => Promise<T>): Promise<T> {
  const db = new ClassicLevel<string, Uint8Array>(join(path, 'db'), { valueEncoding: 'view' })
  await db.open()
  try {
    return await work(db)
  } finally {
    await db.close()
  }
}

/** One keyspace of a raw database, with byte values. */
export function rawSublevel (db: RawDb, name: SublevelName): Sublevel {
  return db.sublevel<string, Uint8Array>(SUBLEVELS[name], { valueEncoding: 'view' })
}

/** The bytes a store keeps for these blobs: each distinct chunk once, as the store's chunking cuts them. */
export function distinctChunkBytes (blobs: readonly Uint8Array[]): number {
  const sizes = new Map<string, number>()
  for (const blob of blobs) {
    let from = 0
    for (const end of chunkEnds(blob)) {
      sizes.set(createHash('sha256').update(blob.subarray(from, end)).digest('hex'), end - from)
      from = end
    }
  }
  return [...sizes.values()].reduce((sum, size) => sum + size, 0)
}

/** Chunk bytes as they lie in a (closed) store's pack files, read and damaged directly, bypassing snapstore. */
export interface RawChunks {
  /** A chunk's bytes as stored, or undefined when the database names no place for it. */
  get: (hex: string) => Promise<Uint8Array | undefined>
  /** Replaces a chunk's bytes: in place when the length is the same, else appended to its pack and pointed at. */
  put: (hex: string, bytes: Uint8Array) => Promise<void>
  /** Forgets where a chunk lies, as if it were lost. */
  del: (hex: string) => Promise<void>
  /** Every chunk the database names. */
  keys: () => Promise<string[]>
  /** The pack file and byte range of a chunk. */
  place: (hex: string) => Promise<{ file: string, offset: number, size: number }>
}

/** The chunks of the store at `path`, whose database `db` is opened directly. */
export function rawChunks (db: RawDb, path: string): RawChunks {
  const at = rawSublevel(db, 'chunkAt')
  const place = async (hex: string): Promise<{ file: string, offset: number, size: number }> => {
    const value = await at.get(hex)
    assert.ok(value !== undefined, `chunk ${hex} has no place in the packs`)
    const [pack, offset, size] = decode<[number, number, number]>(value)
    return { file: join(path, 'packs', `${String(pack).padStart(6, '0')}.pack`), offset, size }
  }
  return {
    place,
    get: async (hex) => {
      if (await at.get(hex) === undefined) return undefined
      const { file, offset, size } = await place(hex)
      return (await readFile(file)).subarray(offset, offset + size)
    },
    put: async (hex, bytes) => {
      const { file, offset, size } = await place(hex)
      if (bytes.length === size) {
        const handle = await open(file, 'r+')
        try { await handle.write(bytes, 0, bytes.length, offset) } finally { await handle.close() }
        return
      }
      const end = (await stat(file)).size
      await appendFile(file, bytes)
      const pack = Number(file.slice(-11, -5))
      await at.put(hex, encode([pack, end, bytes.length]))
    },
    del: async (hex) => { await at.del(hex) },
    keys: async () => await collect(at.keys())
  }
}

/** Every key and value (as hex) of the derived sublevels: what `reindex` must reproduce exactly. */
export async function dumpDerived (store: Store): Promise<Record<string, Array<[string, string]>>> {
  const out: Record<string, Array<[string, string]>> = {}
  for (const name of DERIVED_SUBLEVELS) {
    const entries: Array<[string, string]> = []
    for await (const [key, value] of store.sub[name].iterator()) entries.push([key, Buffer.from(value).toString('hex')])
    out[name] = entries
  }
  return out
}

/** Collects an async iterable into an array (`Array.fromAsync` is absent in Node 20). */
export async function collect<T> (items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}

/** The number of events in the log, optionally of one type. */
export async function countEvents (store: Store, type?: EventType): Promise<number> {
  return (await collect(iterateLog(store, type === undefined ? {} : { type }))).length
}

/** One event of another origin, to be sealed by `sealChain`. */
export interface ForeignEntry {
  clock: number
  /** @default 1 */
  time?: number
  draft: EventDraft
}

/** Seals entries as the chain of `origin` from seq 1: each names the one before it, as a store of that origin would write them. */
export function sealChain (origin: string, entries: readonly ForeignEntry[], host = 'elsewhere'): StoredEvent[] {
  let prev: StoredEvent | undefined
  return entries.map(({ clock, time = 1, draft }, i) => {
    const event = { v: 1, origin, seq: i + 1, prev: prev?.id ?? null, clock, time, host, ...draft } as SnapEvent
    prev = sealEvent(event)
    return prev
  })
}

/** Writes already-sealed events in one synced batch, with no check: the caller holds the store's write queue. */
export async function commitEvents (store: Store, events: readonly StoredEvent[], sync = true): Promise<void> {
  const committer = new EventCommitter(store)
  await committer.commit(events, sync)
  await committer.settled()
}

/** Writes events of other origins into a store the way a merge does: references checked, then one batch. */
export async function commitForeign (store: Store, events: readonly StoredEvent[]): Promise<void> {
  await exclusive(store, async () => {
    await checkReferences(store, events)
    await commitEvents(store, events)
  })
}

/** Bytes of a UTF-8 string. */
export function bytes (text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

/** `length` deterministic pseudo-random bytes (xorshift32 from `seed`): no two chunks of them repeat. */
export function seededBytes (length: number, seed = 1): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4))
  let x = (seed * 0x9e3779b1) >>> 0 || 1
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    words[i] = x
  }
  return new Uint8Array(words.buffer, 0, length)
}

/** Awaits a promise that must reject with a snapstore error of `code`, and returns that error. */
export async function expectCode (promise: Promise<unknown>, code: ErrorCode): Promise<SnapstoreError> {
  let value: unknown
  try {
    value = await promise
  } catch (err) {
    if (!isSnapstoreError(err)) throw err
    assert.is(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`)
    return err
  }
  assert.unreachable(`expected a rejection with ${code}, but it resolved to ${String(value)}`)
  throw new Error('unreachable')
}

/** Calls `work`, which must throw a `TypeError` (programmer misuse, no code), and returns it. */
export function expectTypeError (work: () => unknown): TypeError {
  try {
    work()
  } catch (err) {
    assert.instance(err, TypeError)
    assert.is((err as { code?: unknown }).code, undefined)
    return err as TypeError
  }
  assert.unreachable('expected a TypeError')
  throw new Error('unreachable')
}

/**
 * Runs `work` and fails unless every promise rejection it causes is handled: an unhandled one
 * would kill a CLI process (and this test run) on Node 20.
 */
export async function expectNoUnhandledRejection<T> (work: () => Promise<T>): Promise<T> {
  const reasons: unknown[] = []
  const listener = (reason: unknown): void => { reasons.push(reason) }
  process.on('unhandledRejection', listener)
  try {
    const result = await work()
    await new Promise((resolvePromise) => setImmediate(resolvePromise))
    assert.equal(reasons.map(String), [], 'no promise rejection is left unhandled')
    return result
  } finally {
    process.off('unhandledRejection', listener)
  }
}

/** A child process that holds a store open until released. */
export interface StoreHolder {
  pid: number
  /** Kills the child and waits for it to exit. */
  release: () => Promise<void>
}

/** Opens the store at `path` in a child node process (waiting up to `waitSeconds` for it) and resolves once the child has it open. */
export async function holdStoreOpen (path: string, waitSeconds = 0): Promise<StoreHolder> {
  const script = `
    import { openStore } from ${JSON.stringify(LIBRARY)}
    await openStore(process.env.SNAPSTORE_TEST_STORE, { wait: ${waitSeconds} })
    process.stdout.write('ready\\n')
    setInterval(() => {}, 60000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, SNAPSTORE_TEST_STORE: path },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()))
  await waitForReady(child)
  return {
    pid: child.pid!,
    release: async () => {
      child.kill('SIGKILL')
      await exited
    }
  }
}

async function waitForReady (child: ChildProcess): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    let out = ''
    let err = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      if (out.includes('ready\n')) resolvePromise()
    })
    child.stderr!.on('data', (chunk: Buffer) => { err += chunk.toString('utf8') })
    child.once('error', reject)
    child.once('exit', (status) => reject(new Error(`store holder exited with ${String(status)} before it was ready: ${err}`)))
  })
}

/** The result of running the CLI; `out` is stdout as bytes (for `get`), `stdout` the same as UTF-8. */
export interface CliResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  out: Buffer
}

/**
 * Runs the real CLI as a child process and collects status, stdout and stderr; `env` is added to the
 * environment, `node` are options for node itself (`--max-old-space-size=64`).
 */
export async function runCli (args: readonly string[], options: { input?: string | Uint8Array, cwd?: string, env?: NodeJS.ProcessEnv, node?: readonly string[], asInstalled?: boolean } = {}): Promise<CliResult> {
  // asInstalled runs the executable itself, through its #! launcher line, as `snapstore …` on a user's PATH does.
  const argv = options.asInstalled === true ? [CLI, ...args] : [process.execPath, ...(options.node ?? []), CLI, ...args]
  return await new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.on('error', reject)
    child.on('close', (status, signal) => {
      const bytes = Buffer.concat(out)
      resolvePromise({ status, signal, stdout: bytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), out: bytes })
    })
    child.stdin.on('error', () => undefined)
    child.stdin.end(options.input)
  })
}

/** Interleaves two lists keeping the order within each, taking from the first where `pickFirst` says so. */
export function interleave<T> (a: readonly T[], b: readonly T[], pickFirst: readonly boolean[]): T[] {
  const out: T[] = []
  let i = 0
  let j = 0
  for (let k = 0; i < a.length || j < b.length; k++) {
    if (j >= b.length || (i < a.length && (pickFirst[k] ?? true))) out.push(a[i++]!)
    else out.push(b[j++]!)
  }
  return out
}
