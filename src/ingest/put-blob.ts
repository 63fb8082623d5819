import { open, stat } from 'node:fs/promises'
import { asBlobPut } from '../blob-writers.ts'
import { encode } from '../codec.ts'
import { describeSystemError } from '../system-errors.ts'
import { BadInputError, NotFoundError } from '../errors.ts'
import { RAW, cidFromDigest, digestHex } from '../ids.ts'
import { writeBatch } from '../batch.ts'
import { storeChunk } from '../chunks.ts'
import { claimChunks, releaseChunks, storeClaimed } from './chunk-claims.ts'
import { GEAR_BYTES } from '../chunking/cdc.ts'
import { returnCutter, takeCutter } from './cutter-pool.ts'
import { isBlobStored } from './blob-lookups.ts'
import type { FileHandle } from 'node:fs/promises'
import type { Stats } from 'node:fs'
import { fillFromFile, fillFromSource } from './fill.ts'
import { inlineHasher, threadedHasher } from './hash-thread.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecord } from '../blobs.ts'
import type { Op } from '../ops.ts'
import type { Store } from '../store.ts'
import type { OperationOptions } from '../types.ts'
import type { BlobSource, Fill } from './fill.ts'

/** The result of storing bytes. */
export interface PutBlobResult {
  id: CID
  size: number
  /** False when the store already held these bytes. */
  created: boolean
}

// The ingest reads into a ring of slots in memory shared by the chunking kernel and the whole-hash
// thread. Each slot has room before its data for the unfinished chunk of the slot before, so every
// chunk lies in one piece of memory. Memory is bounded by SLOTS × (SLOT_BYTES + max chunk), whatever the size.
const SLOTS = 4
const SLOT_BYTES = 8 * 1024 * 1024
// From this size on, hashing runs on two more threads (which cost a few milliseconds to start).
const WORKER_FROM = 32 * 1024 * 1024
// Chunk locations are written to the database in batches of this many while a large blob is stored.
const LOCATIONS_PER_BATCH = 4096
const NO_DIGEST = new Uint8Array(0)

/**
 * Stores bytes as a content-addressed blob, streaming with memory bounded by a small constant whatever
 * the size. The id is the sha-256 of the whole content; the bytes are cut into content-defined chunks,
 * each stored once however many blobs share it. Reading, chunking, hashing and writing overlap.
 */
export async function putBlob (store: Store, source: BlobSource, options: OperationOptions = {}): Promise<PutBlobResult> {
  return await ingest(store, fillFromSource(source), source instanceof Uint8Array ? source.length : undefined, options)
}

/** Fails as `putFile` would (`E_NOT_FOUND`, `E_BAD_INPUT`) unless `path` is a regular file this process can read; reads none of it, and gives its size. */
export async function checkFileToAdd (path: string): Promise<{ size: number }> {
  const { handle, info } = await openFileToAdd(path)
  await handle.close()
  return { size: info.size }
}

/** Stores the file at `path` as a blob; a missing, unreadable or directory path fails before anything is written. */
export async function putFile (store: Store, path: string, options: OperationOptions = {}): Promise<PutBlobResult> {
  const { handle, info } = await openFileToAdd(path)
  try {
    return await ingest(store, fillFromFile(handle), info.size, options)
      .catch((err: NodeJS.ErrnoException) => { throw err.syscall === undefined ? err : fileError(path, err) })
  } finally {
    await handle.close()
  }
}

async function ingest (store: Store, fill: Fill, sizeHint: number | undefined, options: OperationOptions): Promise<PutBlobResult> {
  return await asBlobPut(store, async () => await ingestNow(store, fill, sizeHint, options))
}

async function ingestNow (store: Store, fill: Fill, sizeHint: number | undefined, options: OperationOptions): Promise<PutBlobResult> {
  const { max } = store.chunking
  // A blob known to fit in one slot gets one slot of its size (and a byte more, so its end is seen in one read).
  const slots = sizeHint !== undefined && sizeHint < SLOT_BYTES ? 1 : SLOTS
  const slotBytes = slots === 1 ? sizeHint! + 1 : SLOT_BYTES
  const stride = max + slotBytes
  const cutter = takeCutter(store.chunking, slots * stride)
  const memory = cutter.bytes
  const hasher = sizeHint !== undefined && sizeHint >= WORKER_FROM ? threadedHasher(cutter.memory.buffer) : inlineHasher(memory)
  const chunks: Array<[Uint8Array, number]> = []
  const seen = new Set<string>()
  // Chunks this ingest claimed (see claimChunks), released once a batch naming them is written (so a huge
  // ingest holds a bounded number), the rest when it ends.
  const claimed = new Set<string>()
  // Writes a batch of chunk locations, then releases the claims it names.
  const commitLocated = async (ops: Op[]): Promise<void> => {
    await writeBatch(store, ops, false)
    const named = ops.flatMap((op) => op.sublevel === 'chunkAt' && claimed.delete(op.key) ? [op.key] : [])
    await releaseChunks(store, named)
  }
  let located: Op[] = []
  let committed = Promise.resolve()
  const busy: Array<Array<Promise<void>>> = Array.from({ length: slots }, () => [])
  // Work on a slot's bytes is awaited before the slot is refilled; a failure is kept for then, not left unhandled.
  const using = (slot: number, work: Promise<void>): void => {
    work.catch(() => undefined)
    busy[slot]!.push(work)
  }

  // Stores the chunks of one round that neither this blob nor the store holds yet, asking the store about them all at once.
  const persist = async (cut: Array<{ digest: Uint8Array, bytes: Uint8Array }>): Promise<void> => {
    const fresh = cut.filter(({ digest }) => {
      const hex = Buffer.from(digest).toString('hex')
      if (seen.has(hex)) return false
      seen.add(hex)
      return true
    })
    const hexes = fresh.map(({ digest }) => Buffer.from(digest).toString('hex'))
    const { mine, others } = await claimChunks(store, hexes)
    for (const i of mine) claimed.add(hexes[i]!)
    const writes: Array<Promise<void>> = []
    for (const i of mine) {
      const stored = await storeClaimed(store, hexes[i]!, fresh[i]!.digest, fresh[i]!.bytes)
      stored.written.catch(() => undefined)
      writes.push(stored.written.then(() => { located.push(stored.op) }))
    }
    // A chunk another ingest is storing is named in this blob's batch too: that ingest's batch may come later.
    // Should it never store it, this ingest does.
    for (const { index, stored } of others) {
      writes.push(stored.catch(async () => {
        const chunk = await storeChunk(store, fresh[index]!.digest, [fresh[index]!.bytes])
        await chunk.written
        return chunk
      }).then((chunk) => { located.push(chunk.op) }))
    }
    await Promise.all(writes)
  }

  const dataStartOf = (slot: number): number => GEAR_BYTES + slot * stride + max
  const fillRound = async (round: number): Promise<number> => {
    const slot = round % slots
    await Promise.all(busy[slot]!)
    busy[slot] = []
    return await fill(memory.subarray(dataStartOf(slot), dataStartOf(slot) + slotBytes))
  }
  // With several slots, the next round's bytes are read while this round's are cut (the unfinished chunk
  // moves into a room of its own in front of them, so the order does not matter); with one, in turn.
  const readAhead = slots >= 3
  let next = readAhead ? fillRound(0) : undefined
  let size = 0
  let tail = { at: 0, length: 0 }
  let failed = false
  try {
    for (let round = 0; ; round++) {
      options.signal?.throwIfAborted()
      const slot = round % slots
      const dataStart = dataStartOf(slot)
      const moveTail = (): void => {
        // The unfinished chunk of the round before goes just in front of this round's bytes.
        if (tail.length > 0) memory.copyWithin(dataStart - tail.length, tail.at, tail.at + tail.length)
      }
      if (!readAhead) moveTail()
      const read = readAhead ? await next! : await fillRound(round)
      const ended = read < slotBytes
      if (readAhead) {
        moveTail()
        if (!ended) {
          next = fillRound(round + 1)
          next.catch(() => undefined)
        }
      }
      const first = dataStart - tail.length
      size += read
      if (read > 0) using(slot, hasher.update(dataStart, read))
      const end = dataStart + read
      const cuts: number[] = []
      let at = first
      while (at < end) {
        const cut = cutter.cut(at, end)
        if (cut === end && !ended && end - at < max) break
        cuts.push(cut)
        at = cut
      }
      tail = { at, length: end - at }
      if (ended && round === 0 && cuts.length <= 1) {
        // One chunk: its digest is the whole digest, so it is hashed once.
        const digest = await hasher.digest()
        if (cuts.length === 1) {
          chunks.push([digest, read])
          await persist([{ digest, bytes: memory.subarray(dataStart, end) }])
        }
        return await finish(cidFromDigest(RAW, digest))
      }
      let from = first
      const ranges = cuts.map((to): [number, number] => {
        const range: [number, number] = [from, to - from]
        from = to
        return range
      })
      if (ranges.length > 0) {
        // The chunks take their places in the record now; their digests arrive from the hasher.
        const at = chunks.length
        for (const [, length] of ranges) chunks.push([NO_DIGEST, length])
        using(slot, (async () => {
          const digests = await hasher.chunks(ranges)
          digests.forEach((digest, i) => { chunks[at + i]![0] = digest })
          await persist(ranges.map(([start, length], i) => ({ digest: digests[i]!, bytes: memory.subarray(start, start + length) })))
        })())
      }
      if (located.length >= LOCATIONS_PER_BATCH) {
        const batch = located
        located = []
        committed = committed.then(async () => { await commitLocated(batch) })
        committed.catch(() => undefined)
      }
      options.onProgress?.({ type: 'snapstore:add:bytes', done: size })
      if (ended) break
    }
    await Promise.all(busy.flat())
    return await finish(cidFromDigest(RAW, await hasher.digest()))
  } catch (err) {
    // A write may still be reading the memory after a failure: the next ingest gets a cutter of its own.
    failed = true
    throw err
  } finally {
    await next?.catch(() => undefined)
    await Promise.allSettled(busy.flat())
    await hasher.close()
    await releaseChunks(store, [...claimed])
    if (!failed) returnCutter(store.chunking, cutter)
  }

  async function finish (id: CID): Promise<PutBlobResult> {
    await committed
    const key = digestHex(id)
    const created = !(await isBlobStored(store, key))
    if (created) located.push({ type: 'put', sublevel: 'blob', key, value: encode({ size, chunks } satisfies BlobRecord) })
    await commitLocated(located)
    return { id, size, created }
  }
}

/** Opens a file to add, refusing a missing, unreadable or directory path with the error `add` reports. */
async function openFileToAdd (path: string): Promise<{ handle: FileHandle, info: Stats }> {
  // Looked at before it is opened (opening a pipe waits for a writer, and its bytes can be read only
  // once), and again once open, in case the path was replaced meanwhile.
  refuseUnlessFile(path, await stat(path).catch((err: NodeJS.ErrnoException) => { throw fileError(path, err) }))
  const handle = await open(path, 'r').catch((err: NodeJS.ErrnoException) => { throw fileError(path, err) })
  try {
    const info = await handle.stat()
    refuseUnlessFile(path, info)
    return { handle, info }
  } catch (err) {
    await handle.close()
    throw err
  }
}

/** Fails with `E_BAD_INPUT` unless `info` is a regular file's. */
function refuseUnlessFile (path: string, info: Stats): void {
  if (info.isDirectory()) throw new BadInputError(`Cannot add "${path}": it is a directory, not a file`)
  if (!info.isFile()) throw new BadInputError(`Cannot add "${path}": it is not a regular file (a pipe or a device); send its bytes to stdin: snapstore add KIND STORE - < "${path}"`)
}

function fileError (path: string, err: NodeJS.ErrnoException): Error {
  switch (err.code) {
    case 'ENOENT': return new NotFoundError(`Cannot add "${path}": no such file`, { cause: err })
    case 'EISDIR': return new BadInputError(`Cannot add "${path}": it is a directory, not a file`, { cause: err })
    case 'EACCES':
    case 'EPERM': return new BadInputError(`Cannot add "${path}": permission denied`, { cause: err })
    default: return new BadInputError(`Cannot add "${path}": ${err.code === undefined ? err.message : describeSystemError(err.code)}`, { cause: err })
  }
}
