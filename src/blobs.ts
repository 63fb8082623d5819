import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'
import { decode, encode } from './codec.ts'
import { BadInputError, CorruptError, NotFoundError } from './errors.ts'
import { RAW, cidFromDigest, digestHex } from './ids.ts'
import { CHUNK_SIZE } from './store.ts'
import { writeBatch } from './batch.ts'
import type { CID } from 'multiformats/cid'
import type { Op } from './ops.ts'
import type { Store } from './store.ts'
import type { OperationOptions } from './types.ts'

/** How a blob's bytes are kept: its size and its chunks in order, each as [sha-256 digest, size]. */
export interface BlobRecord {
  size: number
  chunks: Array<[Uint8Array, number]>
}

/** Bytes to store: in memory, or streamed from any (async) iterable of pieces (which must not change once yielded). */
export type BlobSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

/** The result of storing bytes. */
export interface PutBlobResult {
  id: CID
  size: number
  /** False when the store already held these bytes. */
  created: boolean
}

// Chunk writes are grouped so each LevelDB batch carries several MiB, with one batch in flight while the next fills.
const BATCH_BYTES = 8 * CHUNK_SIZE

/**
 * Stores bytes as a content-addressed blob, streaming with memory bounded by a few chunks whatever the size.
 * The id is the sha-256 of the whole content; chunks are stored once however many blobs share them.
 */
export async function putBlob (store: Store, source: BlobSource, options: OperationOptions = {}): Promise<PutBlobResult> {
  const whole = createHash('sha256')
  const chunks: Array<[Uint8Array, number]> = []
  let pending: Op[] = []
  let pendingBytes = 0
  let inFlight: Promise<void> = Promise.resolve()
  let size = 0
  // Pieces of the chunk being filled, joined only when it is full, so a small blob costs no 1 MiB buffer.
  let pieces: Uint8Array[] = []
  let filled = 0
  let firstChunk: Uint8Array | undefined

  const flush = async (): Promise<void> => {
    const ops = pending
    pending = []
    pendingBytes = 0
    await inFlight
    inFlight = writeBatch(store, ops, false)
  }
  const stage = async (bytes: Uint8Array, digest: Uint8Array): Promise<void> => {
    chunks.push([digest, bytes.length])
    const key = Buffer.from(digest).toString('hex')
    if (await store.sub.chunk.has(key)) return
    pending.push({ type: 'put', sublevel: 'chunk', key, value: bytes })
    pendingBytes += bytes.length
    if (pendingBytes >= BATCH_BYTES) await flush()
  }
  const sealChunk = async (): Promise<void> => {
    const bytes = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, filled)
    pieces = []
    filled = 0
    if (chunks.length === 0 && firstChunk === undefined) {
      // Held back: if it turns out to be the only chunk, its digest is the whole digest and needs no second hash.
      firstChunk = bytes
      return
    }
    if (firstChunk !== undefined) {
      await stage(firstChunk, createHash('sha256').update(firstChunk).digest())
      firstChunk = undefined
    }
    await stage(bytes, createHash('sha256').update(bytes).digest())
  }

  for await (const piece of pieces_(source)) {
    options.signal?.throwIfAborted()
    whole.update(piece)
    size += piece.length
    let offset = 0
    while (offset < piece.length) {
      const take = Math.min(CHUNK_SIZE - filled, piece.length - offset)
      pieces.push(offset === 0 && take === piece.length ? piece : piece.subarray(offset, offset + take))
      filled += take
      offset += take
      if (filled === CHUNK_SIZE) await sealChunk()
    }
    options.onProgress?.({ type: 'snapstore:add:bytes', done: size })
  }
  if (filled > 0) await sealChunk()
  const digest = whole.digest()
  if (firstChunk !== undefined) await stage(firstChunk, digest)
  const id = cidFromDigest(RAW, digest)
  const key = digestHex(id)
  const created = !(await store.sub.blob.has(key))
  if (created) {
    const record: BlobRecord = { size, chunks }
    pending.push({ type: 'put', sublevel: 'blob', key, value: encode(record) })
  }
  await flush()
  await inFlight
  return { id, size, created }
}

/** Stores the file at `path` as a blob; a missing, unreadable or directory path fails before anything is written. */
export async function putFile (store: Store, path: string, options: OperationOptions = {}): Promise<PutBlobResult> {
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => { throw fileError(path, err) })
  try {
    const info = await handle.stat()
    if (info.isDirectory()) throw new BadInputError(`Cannot add "${path}": it is a directory, not a file`)
    // Reads of at most one chunk, and no bigger than the file: a 64 KiB file costs no 1 MiB buffer.
    const stream = handle.createReadStream({ highWaterMark: Math.max(1, Math.min(CHUNK_SIZE, info.isFile() ? info.size : CHUNK_SIZE)), autoClose: false })
    return await putBlob(store, stream, options).catch((err: NodeJS.ErrnoException) => { throw err.syscall === undefined ? err : fileError(path, err) })
  } finally {
    await handle.close()
  }
}

function fileError (path: string, err: NodeJS.ErrnoException): Error {
  switch (err.code) {
    case 'ENOENT': return new NotFoundError(`Cannot add "${path}": no such file`, { cause: err })
    case 'EISDIR': return new BadInputError(`Cannot add "${path}": it is a directory, not a file`, { cause: err })
    case 'EACCES':
    case 'EPERM': return new BadInputError(`Cannot add "${path}": permission denied`, { cause: err })
    default: return new BadInputError(`Cannot add "${path}": ${err.message}`, { cause: err })
  }
}

async function * pieces_ (source: BlobSource): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    yield source
    return
  }
  yield * source
}

/** The stored record of a blob, or undefined when the store lacks it. */
export async function readBlobRecord (store: Store, id: CID): Promise<BlobRecord | undefined> {
  const value = await store.sub.blob.get(digestHex(id))
  if (value === undefined) return undefined
  const record = decode<BlobRecord>(value)
  if (typeof record?.size !== 'number' || !Array.isArray(record.chunks)) throw new CorruptError(`Cannot read blob "${id.toString()}": its record is malformed`)
  return record
}

/** True when the store holds the blob's bytes. */
export async function hasBlob (store: Store, id: CID): Promise<boolean> {
  return await store.sub.blob.has(digestHex(id))
}

/** The size in bytes of a stored blob; `E_NOT_FOUND` when absent. */
export async function blobSize (store: Store, id: CID): Promise<number> {
  const record = await readBlobRecord(store, id)
  if (record === undefined) throw new NotFoundError(`Cannot find blob "${id.toString()}"`)
  return record.size
}

/**
 * Streams a blob's bytes, verifying every chunk before yielding it and the whole digest at the end;
 * any mismatch is `E_CORRUPT` naming the expected and computed digests.
 */
export async function * readBlob (store: Store, id: CID, options: OperationOptions = {}): AsyncGenerator<Uint8Array> {
  const record = await readBlobRecord(store, id)
  if (record === undefined) throw new NotFoundError(`Cannot find blob "${id.toString()}"`)
  const whole = createHash('sha256')
  const single = record.chunks.length === 1
  let done = 0
  let next = record.chunks.length === 0 ? Promise.resolve(new Uint8Array(0)) : fetchChunk(store, id, record, 0)
  for (let i = 0; i < record.chunks.length; i++) {
    options.signal?.throwIfAborted()
    const bytes = await next
    if (i + 1 < record.chunks.length) {
      next = fetchChunk(store, id, record, i + 1)
      // Awaited on the next turn; this keeps a reader that stops early from leaving a rejection unhandled.
      next.catch(() => undefined)
    }
    const [digest] = record.chunks[i]!
    // A single chunk's digest is the whole digest: hashing it once checks both.
    const computed = createHash('sha256').update(bytes).digest()
    if (!single) whole.update(bytes)
    if (!computed.equals(digest)) {
      throw new CorruptError(`Cannot read blob "${id.toString()}": chunk ${i} digest mismatch: expected ${Buffer.from(digest).toString('hex')}, computed ${computed.toString('hex')}`,
        { details: { blob: id.toString(), chunk: i, expected: Buffer.from(digest).toString('hex'), computed: computed.toString('hex') } })
    }
    done += bytes.length
    options.onProgress?.({ type: 'snapstore:get:bytes', done, total: record.size })
    if (single) {
      checkWhole(id, computed, done, record.size)
    } else if (i + 1 === record.chunks.length) {
      checkWhole(id, whole.digest(), done, record.size)
    }
    yield bytes
  }
  if (record.chunks.length === 0) checkWhole(id, whole.digest(), 0, record.size)
}

function checkWhole (id: CID, computed: Buffer, size: number, expectedSize: number): void {
  const expected = digestHex(id)
  if (computed.toString('hex') !== expected || size !== expectedSize) {
    throw new CorruptError(`Cannot read blob "${id.toString()}": digest mismatch: expected ${expected}, computed ${computed.toString('hex')}`,
      { details: { blob: id.toString(), expected, computed: computed.toString('hex') } })
  }
}

async function fetchChunk (store: Store, id: CID, record: BlobRecord, index: number): Promise<Uint8Array> {
  const [digest] = record.chunks[index]!
  const bytes = await store.sub.chunk.get(Buffer.from(digest).toString('hex'))
  if (bytes === undefined) throw new CorruptError(`Cannot read blob "${id.toString()}": chunk ${index} (${Buffer.from(digest).toString('hex')}) is missing`)
  return bytes
}

/**
 * Checks a stored blob without yielding its bytes: one pass hashing the whole content, and only when that
 * fails, a second pass naming the first damaged chunk. `E_CORRUPT` or `E_NOT_FOUND` when it is not intact.
 */
export async function verifyBlob (store: Store, id: CID, options: OperationOptions = {}): Promise<void> {
  const record = await readBlobRecord(store, id)
  if (record === undefined) throw new NotFoundError(`Cannot find blob "${id.toString()}"`)
  const whole = createHash('sha256')
  let size = 0
  for (let i = 0; i < record.chunks.length; i++) {
    options.signal?.throwIfAborted()
    const bytes = await fetchChunk(store, id, record, i)
    whole.update(bytes)
    size += bytes.length
  }
  const computed = whole.digest()
  if (computed.toString('hex') === digestHex(id) && size === record.size) return
  for await (const part of readBlob(store, id, options)) void part
  checkWhole(id, computed, size, record.size)
}

/** Reads a whole blob into memory, verified; for small blobs such as configs. */
export async function readBlobBytes (store: Store, id: CID, options: OperationOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const part of readBlob(store, id, options)) parts.push(part)
  return Buffer.concat(parts)
}
