import { createCipheriv, createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import * as assert from 'uvu/assert'
import { decode } from '../../src/codec.ts'
import { addBlob, closeStore, initStore, openStore } from '../../src/index.ts'
import { CLI, rawChunks, runCli, tempDir, withRawDb as withDb } from './store.ts'
import type { AddOptions, BlobKind, Store } from '../../src/index.ts'
import type { Sublevel } from '../../src/store.ts'
import type { CliResult, RawDb } from './store.ts'

export { withDb }

/** The built library entry point, for child processes that open a store themselves. */
export const LIBRARY = resolve(dirname(CLI), '../index.js')

/** What one run of the CLI did. */
export type Run = CliResult

/** Runs the built CLI as a child process: `snap(['ls', 'snapshots', store])`. */
export const snap = runCli

/** Asserts a run succeeded: exit 0, empty stderr, and (when given) exactly this stdout. `label` names the run in failures. */
export function expectOk (run: Run, stdout?: string, label = ''): void {
  const at = label === '' ? '' : `${label}: `
  assert.is(run.stderr, '', `${at}stderr`)
  assert.is(run.status, 0, `${at}exit status (stderr: ${run.stderr})`)
  if (stdout !== undefined) assert.is(run.stdout, stdout, `${at}stdout`)
}

/** The contract's error line: exactly one line, `snapstore: E_CODE: message`. */
export const ERROR_LINE = /^snapstore: E_[A-Z_]+: .+\n$/

/**
 * Asserts a run failed the contract's way: exit 2 for E_USAGE and 1 otherwise, nothing on stdout,
 * and one stderr line `snapstore: CODE: message`. Returns the message. `label` names the run in failures.
 */
export function expectError (run: Run, code: string, label = ''): string {
  const prefix = `snapstore: ${code}: `
  const at = label === '' ? '' : `${label}: `
  assert.is(run.stdout, '', `${at}stdout must be empty on failure`)
  assert.match(run.stderr, ERROR_LINE, `${at}stderr must be one error line`)
  assert.is(run.stderr.slice(0, prefix.length), prefix, `${at}stderr: ${run.stderr}`)
  assert.is(run.status, code === 'E_USAGE' ? 2 : 1, `${at}exit status`)
  return run.stderr.slice(prefix.length, -1)
}

/** The lines of an output that must end with a newline (or be empty). */
export function lines (text: string): string[] {
  if (text === '') return []
  assert.ok(text.endsWith('\n'), `output must end with a newline: ${JSON.stringify(text.slice(-40))}`)
  return text.slice(0, -1).split('\n')
}

/** Parses JSON Lines output, one object per line. */
export function jsonLines (text: string): Array<Record<string, unknown>> {
  return lines(text).map((line) => {
    const value: unknown = JSON.parse(line)
    assert.type(value, 'object')
    return value as Record<string, unknown>
  })
}

/** Hex sha-256 of bytes. */
export function sha256Hex (bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The hex sha-256 digest inside a CID string. */
export function digestOf (id: string): string {
  return Buffer.from(CID.parse(id).multihash.digest).toString('hex')
}

/** The blob id (`bafkrei…`) that bytes must get: CIDv1, raw, sha2-256. */
export function blobIdOf (bytes: Uint8Array | string): string {
  return CID.createV1(0x55, Digest.create(0x12, createHash('sha256').update(bytes).digest())).toString()
}

/** Deterministic incompressible bytes: an AES-CTR keystream seeded by `seed`. */
export function noise (size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest()
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()])
}

/** Writes `content` to `dir/name` and returns the path. */
export async function put (dir: string, name: string, content: string | Uint8Array): Promise<string> {
  const path = join(dir, name)
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, content)
  return path
}

/** A temp directory holding a closed, empty store at `dir/store`, ready for the CLI. */
export interface CliContext {
  dir: string
  store: string
  dispose: () => Promise<void>
}

/** Creates a temp directory with an initialised, closed store in it. */
export async function cliContext (): Promise<CliContext> {
  const { dir, dispose } = await tempDir()
  const store = join(dir, 'store')
  await closeStore(await initStore(store))
  return { dir, store, dispose }
}

/** Opens the store through the library, runs `work`, and closes it. */
export async function withLibrary<T> (path: string, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(path, { wait: 0 })
  try {
    return await work(store)
  } finally {
    await closeStore(store)
  }
}

/** Adds blobs through the library (setup that is not under test) and returns their ids in order. */
export async function seed (path: string, items: ReadonlyArray<{ kind: BlobKind, content: string | Uint8Array, options?: AddOptions }>): Promise<string[]> {
  return await withLibrary(path, async (store) => {
    const ids: string[] = []
    for (const item of items) {
      const bytes = typeof item.content === 'string' ? new TextEncoder().encode(item.content) : item.content
      ids.push((await addBlob(store, item.kind, bytes, item.options ?? {})).id.toString())
    }
    return ids
  })
}

/** One sublevel of a raw database, with byte values. */
export function sublevel (db: RawDb, name: string): Sublevel {
  return db.sublevel<string, Uint8Array>(name, { valueEncoding: 'view' })
}

/** Every key of the database with a digest of its value: equal dumps mean an unchanged store. */
export async function dumpStore (path: string): Promise<string[]> {
  return await withDb(path, async (db) => {
    const out: string[] = []
    for await (const [key, value] of db.iterator()) out.push(`${key} ${sha256Hex(value)}`)
    return out
  })
}

/** The hex digests of a stored blob's chunks, in order, from its record in sublevel 'blob'. */
export async function chunkDigests (path: string, id: string): Promise<string[]> {
  return await withDb(path, async (db) => {
    const value = await sublevel(db, 'blob').get(digestOf(id))
    assert.ok(value !== undefined, `blob ${id} has no record`)
    const record = decode<{ chunks: Array<[Uint8Array, number]> }>(value)
    return record.chunks.map(([digest]) => Buffer.from(digest).toString('hex'))
  })
}

/** Flips the first byte of the chunk stored under `chunkHex` and returns the tampered bytes. */
export async function tamperChunk (path: string, chunkHex: string): Promise<Buffer> {
  return await withDb(path, async (db) => {
    const chunks = rawChunks(db, path)
    const value = await chunks.get(chunkHex)
    assert.ok(value !== undefined, `chunk ${chunkHex} is not stored`)
    const tampered = Buffer.from(value)
    tampered[0] = tampered[0]! ^ 0xff
    await chunks.put(chunkHex, tampered)
    return tampered
  })
}

/** Runs async jobs with at most `limit` at a time, keeping results in order. */
export async function inParallel<T, R> (items: readonly T[], limit: number, job: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await job(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}
