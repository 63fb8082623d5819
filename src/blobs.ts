import { createHash } from 'node:crypto'
import { decode } from './codec.ts'
import { CorruptError, NotFoundError } from './errors.ts'
import { digestHex } from './ids.ts'
import { chunkLocations, readChunkAt } from './chunks.ts'
import { checkWhole, chunkMismatch, chunkUnreadable } from './blob-damage.ts'
import { readLargeBlob } from './read-large.ts'
import { wholeHasherFor } from './ingest/hash-thread.ts'
import type { CID } from 'multiformats/cid'
import type { ChunkLocation } from './packs/packs.ts'
import type { Store } from './store.ts'
import type { OperationOptions } from './types.ts'

/** How a blob's bytes are kept: its size and its chunks in order, each as [sha-256 digest, size]. */
export interface BlobRecord {
  size: number
  chunks: Array<[Uint8Array, number]>
}

const READ_AHEAD = 4
// From this size on, a blob of several chunks is read with its hashing on two other threads.
const LARGE = 32 * 1024 * 1024
const LOCATE_WINDOW = 64

/** The stored record of a blob, or undefined when the store lacks it. */
export async function readBlobRecord (store: Store, id: CID): Promise<BlobRecord | undefined> {
  return decodeBlobRecord(id, await store.sub.blob.get(digestHex(id)))
}

/** The stored records of many blobs, with one lookup (undefined where a blob is missing); `E_CORRUPT` for a malformed one. */
export async function readBlobRecords (store: Store, ids: readonly CID[]): Promise<Array<BlobRecord | undefined>> {
  const values = await store.sub.blob.getMany(ids.map(digestHex))
  return ids.map((id, i) => decodeBlobRecord(id, values[i]))
}

function decodeBlobRecord (id: CID, value: Uint8Array | undefined): BlobRecord | undefined {
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
  if (record.size >= LARGE && record.chunks.length > 1) {
    yield * readLargeBlob(store, id, record, options)
    return
  }
  const single = record.chunks.length === 1
  const whole = createHash('sha256')
  let done = 0
  let i = 0
  for await (const bytes of chunksInOrder(store, id, record, options)) {
    const [digest] = record.chunks[i]!
    // A single chunk's digest is the whole digest: hashing it once checks both.
    const computed = createHash('sha256').update(bytes).digest()
    if (!single) whole.update(bytes)
    if (!computed.equals(digest)) throw chunkMismatch(id, i, digest, computed)
    done += bytes.length
    options.onProgress?.({ type: 'snapstore:get:bytes', done, total: record.size })
    if (single) {
      checkWhole(id, computed, done, record.size)
    } else if (i + 1 === record.chunks.length) {
      checkWhole(id, whole.digest(), done, record.size)
    }
    i++
    yield bytes
  }
  if (record.chunks.length === 0) checkWhole(id, whole.digest(), 0, record.size)
}

/** A blob's chunks in order, unverified, with reads running a few chunks ahead so the disk and the hashing keep each other busy. */
async function * chunksInOrder (store: Store, id: CID, record: BlobRecord, options: OperationOptions): AsyncGenerator<Uint8Array> {
  const hexes = record.chunks.map(([digest]) => Buffer.from(digest).toString('hex'))
  // Locations are looked up a window at a time, in the order the chunks are read.
  let window = { from: -LOCATE_WINDOW, locations: Promise.resolve<Array<ChunkLocation | undefined>>([]) }
  const locate = async (index: number): Promise<ChunkLocation | undefined> => {
    if (index >= window.from + LOCATE_WINDOW) {
      window = { from: index, locations: chunkLocations(store, hexes.slice(index, index + LOCATE_WINDOW)) }
    }
    return (await window.locations)[index - window.from]
  }
  const ahead: Array<Promise<Uint8Array>> = []
  let next = 0
  const readAhead = (): void => {
    while (next < record.chunks.length && ahead.length < READ_AHEAD) {
      const index = next++
      const read = locate(index).then(async (location) => await fetchChunk(store, id, hexes[index]!, index, location))
      // Awaited in turn; this keeps a reader that stops early from leaving a rejection unhandled.
      read.catch(() => undefined)
      ahead.push(read)
    }
  }
  readAhead()
  while (ahead.length > 0) {
    options.signal?.throwIfAborted()
    const bytes = await ahead.shift()!
    readAhead()
    yield bytes
  }
}

async function fetchChunk (store: Store, id: CID, hex: string, index: number, location: ChunkLocation | undefined): Promise<Uint8Array> {
  const bytes = await readChunkAt(store, hex, location).catch((err: Error) => { throw chunkUnreadable(id, index, hex, err) })
  if (bytes === undefined) throw chunkUnreadable(id, index, hex)
  return bytes
}

/**
 * Checks a stored blob without yielding its bytes: one pass hashing the whole content, and only when that
 * fails, a second pass naming the first damaged chunk. `E_CORRUPT` or `E_NOT_FOUND` when it is not intact.
 */
export async function verifyBlob (store: Store, id: CID, options: OperationOptions = {}): Promise<void> {
  const record = await readBlobRecord(store, id)
  if (record === undefined) throw new NotFoundError(`Cannot find blob "${id.toString()}"`)
  // A large blob is hashed on a thread of its own, so verifying two at a time keeps both cores busy.
  const whole = wholeHasherFor(record)
  let size = 0
  let computed: Uint8Array
  try {
    for await (const bytes of chunksInOrder(store, id, record, options)) {
      await whole.update([bytes])
      size += bytes.length
    }
    computed = await whole.digest()
  } finally {
    await whole.close()
  }
  if (Buffer.from(computed).toString('hex') === digestHex(id) && size === record.size) return
  for await (const part of readBlob(store, id, options)) void part
  checkWhole(id, computed, size, record.size)
}

/** Reads a whole blob into memory, verified; for small blobs such as configs. */
export async function readBlobBytes (store: Store, id: CID, options: OperationOptions = {}): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const part of readBlob(store, id, options)) parts.push(part)
  return Buffer.concat(parts)
}
