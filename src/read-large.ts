import { checkWhole, chunkMismatch, chunkUnreadable } from './blob-damage.ts'
import { chunkLocations, readChunkAt } from './chunks.ts'
import { threadedHasher } from './ingest/hash-thread.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecord } from './blobs.ts'
import type { Store } from './store.ts'
import type { OperationOptions } from './types.ts'

// Chunks are read in batches of about SLOT_BYTES into a ring of slots shared with two hashing threads (whole
// content and chunks), so reading, hashing and handing bytes on overlap; memory stays SLOTS slots.
const SLOTS = 4
const SLOT_BYTES = 8 * 1024 * 1024
// Each chunk starts on a multiple of this in its slot: copying out of shared memory is several times
// slower from an address that is not aligned like the target's.
const ALIGN = 64
// The ring of the last read, kept for the next (a new one each time would wait for the garbage collector).
let idleRing: SharedArrayBuffer | undefined

/** Consecutive chunks read into one slot. */
interface Batch {
  first: number
  count: number
}

/**
 * Streams a large blob of several chunks, every chunk checked against its digest before it is yielded
 * and the whole content against the id before the last one is: the same promises as `readBlob`, with
 * the hashing on two other threads.
 */
export async function * readLargeBlob (store: Store, id: CID, record: BlobRecord, options: OperationOptions = {}): AsyncGenerator<Uint8Array> {
  const sizes = record.chunks.map(([, size]) => size)
  const slotBytes = Math.max(SLOT_BYTES, ...sizes.map(aligned))
  const memory = idleRing?.byteLength === SLOTS * slotBytes ? idleRing : new SharedArrayBuffer(SLOTS * slotBytes)
  if (memory === idleRing) idleRing = undefined
  const view = new Uint8Array(memory)
  const hasher = threadedHasher(memory)
  const batches = inBatches(sizes.map(aligned), slotBytes)
  // Each batch's bytes are fed to the whole-content hash in order, once read; a slot is free again once that is done.
  let fed: Promise<void> = Promise.resolve()
  const freed: Array<Promise<void>> = Array.from({ length: SLOTS }, () => Promise.resolve())
  const verified: Array<Promise<Uint8Array[]>> = []
  const start = (index: number): void => {
    const batch = batches[index]!
    const slot = index % SLOTS
    const ranges: Array<[number, number]> = []
    let at = slot * slotBytes
    for (let i = batch.first; i < batch.first + batch.count; i++) {
      ranges.push([at, sizes[i]!])
      at += aligned(sizes[i]!)
    }
    const read = freed[slot]!.then(async () => { await readBatch(store, id, record, batch, ranges, view) })
    const previous = fed
    fed = read.then(async () => {
      await previous
      await hasher.updateRanges(ranges)
    })
    freed[slot] = fed.catch(() => undefined)
    const digests = read.then(async () => await hasher.chunks(ranges))
    digests.catch(() => undefined)
    verified.push(digests)
  }
  let done = 0
  try {
    for (let index = 0; index < batches.length; index++) {
      while (verified.length < Math.min(batches.length, index + SLOTS)) start(verified.length)
      options.signal?.throwIfAborted()
      const digests = await verified[index]!
      const { first, count } = batches[index]!
      let at = (index % SLOTS) * slotBytes
      // Copies leave the slot free for the next batches while the caller still holds what it was given.
      const parts: Uint8Array[] = []
      for (let i = first; i < first + count; i++) {
        const [expected] = record.chunks[i]!
        if (!Buffer.from(digests[i - first]!).equals(expected)) throw chunkMismatch(id, i, expected, digests[i - first]!)
        // allocUnsafe and set: Buffer.from would zero the new bytes first and copy a third as fast.
        const part = Buffer.allocUnsafe(sizes[i]!)
        part.set(view.subarray(at, at + sizes[i]!))
        parts.push(part)
        at += aligned(sizes[i]!)
      }
      for (const [k, part] of parts.entries()) {
        done += part.length
        options.onProgress?.({ type: 'snapstore:get:bytes', done, total: record.size })
        if (first + k + 1 === record.chunks.length) {
          await fed
          checkWhole(id, await hasher.digest(), done, record.size)
        }
        yield part
      }
    }
  } finally {
    await Promise.allSettled([fed, ...verified])
    await hasher.close()
    idleRing ??= memory
  }
}

/** A size rounded up to a multiple of ALIGN. */
function aligned (size: number): number {
  return Math.ceil(size / ALIGN) * ALIGN
}

/** Consecutive chunks grouped so each group fills at most one slot. */
function inBatches (sizes: readonly number[], slotBytes: number): Batch[] {
  const batches: Batch[] = []
  let current: Batch = { first: 0, count: 0 }
  let bytes = 0
  for (const [i, size] of sizes.entries()) {
    if (current.count > 0 && bytes + size > slotBytes) {
      batches.push(current)
      current = { first: i, count: 0 }
      bytes = 0
    }
    current.count++
    bytes += size
  }
  if (current.count > 0) batches.push(current)
  return batches
}

/** Reads a batch's chunks into their places in the shared memory, all at once. */
async function readBatch (store: Store, id: CID, record: BlobRecord, batch: Batch, ranges: ReadonlyArray<[number, number]>, view: Uint8Array): Promise<void> {
  const hexes = record.chunks.slice(batch.first, batch.first + batch.count).map(([digest]) => Buffer.from(digest).toString('hex'))
  const locations = await chunkLocations(store, hexes)
  const unreadable = (k: number) => (err: unknown): never => { throw chunkUnreadable(id, batch.first + k, hexes[k]!, err as Error) }
  // Chunks of the size their record gives, read together (neighbours in a pack with one read), each into its place.
  const together = locations.map((location, k) => location !== undefined && location.size === ranges[k]![1])
  const reads = locations.flatMap((location, k) => together[k]! ? [{ location: location!, target: view.subarray(ranges[k]![0], ranges[k]![0] + location!.size), k }] : [])
  await store.packs.readAllInto(reads, (read, err) => unreadable(read.k)(err))
  await Promise.all(hexes.map(async (hex, k) => {
    if (together[k]!) return
    const [at, size] = ranges[k]!
    const index = batch.first + k
    const bytes = await readChunkAt(store, hex, locations[k]).catch(unreadable(k))
    if (bytes === undefined) throw chunkUnreadable(id, index, hex)
    // A chunk of another length cannot match its digest: hashing what fits shows the damage.
    view.set(bytes.subarray(0, size), at)
    if (bytes.length !== size) view.fill(0, at + Math.min(size, bytes.length), at + size)
  }))
}
