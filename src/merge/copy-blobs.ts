import { decode, encode } from '../codec.ts'
import { CorruptError, isSnapstoreError } from '../errors.ts'
import { RAW, cidFromHex, sha256Hex } from '../ids.ts'
import { writeBatch } from '../batch.ts'
import { hasChunks, readChunk, storeChunks } from '../chunks.ts'
import { wholeHasherFor } from '../ingest/hash-thread.ts'
import { piecesLength } from '../pieces.ts'
import { SlabPool } from '../slab-pool.ts'
import { readAhead, settleQuietly } from './read-ahead.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecord } from '../blobs.ts'
import type { StoredChunk } from '../chunks.ts'
import type { CopyingWholeHasher } from '../ingest/hash-thread.ts'
import type { Op } from '../ops.ts'
import type { Store } from '../store.ts'
import type { OperationOptions } from '../types.ts'
import type { PacksEnd } from '../packs/packs.ts'
import type { Pieces } from '../pieces.ts'
import type { Slab } from '../slab-pool.ts'
import type { MergeSource } from './source.ts'

/** What copying blobs wrote, so a failed merge can take it back. */
export interface CopiedBlobs {
  blobs: string[]
  chunks: string[]
  bytes: number
}

// Chunk locations are written in batches naming about this many bytes (each batch first syncs the packs),
// and whenever the copy waits for the source: a copy killed outright loses at most about this much. A batch
// also ends at BATCH_OPS operations, so that many small blobs are not all held until the end.
const BATCH_BYTES = 8 * 1024 * 1024
const BATCH_OPS = 16384
// Reads are asked for in groups (one round trip each from a peer that takes batches) while the groups
// before are checked: at most GROUPS_AHEAD groups of about 4 MiB are in memory, and small blobs cost no
// round trip each. Three groups ahead keep a peer's answers arriving while one is checked.
const RECORDS_PER_GROUP = 64
const GROUP_BYTES = 4 * 1024 * 1024
const GROUP_STEPS = 256
const GROUPS_AHEAD = 3
// A group's chunks are read into one buffer of this size lent for the group (a larger group reads into
// buffers of its own), given back once they are written: a merge allocates no buffer per chunk.
const GROUP_MEMORY = 2 * GROUP_BYTES
const GROUP_MEMORY_KEPT = GROUPS_AHEAD + 2
// Shared by every merge of the process and kept between them (`merge DEST SRC…` merges its sources in one
// process; a server taking pushes merges many): the first write to each page of a fresh buffer is a page
// fault, and on a virtual machine 64 MiB of them cost about 200 ms, against 4 ms to fill memory in use.
const groupMemory = new SlabPool(GROUP_MEMORY, GROUP_MEMORY_KEPT)
// Verified chunks are appended to the packs with one write per this many bytes (or per group), not one per
// chunk. Larger writes cost more, not less: a 1 GiB pull spent 0.5 s of worker-thread time in its writes
// with 256 KiB here, 1.2 s with 1 MiB and 1.8 s with 4 MiB (writes waiting on the background flushes).
const WRITE_BYTES = 256 * 1024

/** One step of the copy, in order: a blob begins (with its record), or one of its chunks, held by the destination or read from the source. */
type Step =
  | { kind: 'blob', id: CID, hex: string, record: BlobRecord }
  | { kind: 'chunk', hex: string, size: number, local: boolean }

/** Consecutive steps with the source reads they need, started together. */
interface Group {
  steps: Step[]
  memory: Slab | undefined
  fetched: Promise<Array<Pieces | undefined>>
  /** True once `fetched` has settled. */
  arrived: boolean
}

/**
 * True when a copy cut by this error keeps what it verified: the peer went away (`E_NET`) or the user
 * interrupted it. Chunks and whole blobs are content-addressed and checked, so the next attempt skips
 * them; a source that lied (any other error) leaves nothing behind.
 */
export function keepsVerifiedCopies (err: unknown): boolean {
  return isSnapstoreError(err, 'E_NET') || (err as { name?: unknown } | undefined)?.name === 'AbortError'
}

/**
 * Copies blobs the destination lacks, checking every chunk's digest and size and each blob's whole
 * digest, and its size against what events say, before its record is written. Chunks the destination
 * already holds are read from it, not copied. When the source fails with `E_NET`, what was verified is
 * written before the error is passed on: it is content-addressed and checked, and the next attempt skips it.
 */
export async function copyBlobs (dest: Store, source: MergeSource, blobs: Iterable<string>, sizes: ReadonlyMap<string, number>, copied: CopiedBlobs, options: OperationOptions = {}): Promise<void> {
  // Chunks appended in this merge but not yet named by a batch, so a blob that repeats one reads it from the pack.
  const staged = new Map<string, StoredChunk>()
  let pending: Op[] = []
  let writes: Array<Promise<void>> = []
  let named: string[] = []
  let pendingBytes = 0
  // The batch that names the chunks copied so far is written (after they reach the disk) while the next
  // ones are copied: one batch at a time, in order.
  let flushed: Promise<void> = Promise.resolve()
  const flush = (): Promise<void> => {
    const [ops, appended, hexes, before] = [pending, writes, named, flushed]
    pending = []
    writes = []
    named = []
    pendingBytes = 0
    flushed = (async () => {
      await before
      await Promise.all(appended)
      await writeBatch(dest, ops, false)
      for (const hex of hexes) staged.delete(hex)
    })()
    flushed.catch(() => undefined)
    return flushed
  }
  // Records of the blobs finished in the group under way, named once its chunks are appended.
  const finished: Op[] = []
  let blob: { id: CID, hex: string, record: BlobRecord, whole: CopyingWholeHasher, size: number, chunksLeft: number, single: boolean } | undefined
  // Checks the whole blob once its last chunk is in, and names it in the next batch: a copy cut off after
  // that (a peer gone) keeps it.
  const finish = async (): Promise<void> => {
    if (blob === undefined) return
    // A blob of one chunk whose digest is the blob's own: checking that chunk checked the whole.
    const computed = blob.single ? blob.hex : Buffer.from(await blob.whole.digest()).toString('hex')
    await blob.whole.close()
    if (computed !== blob.hex || blob.size !== blob.record.size) {
      throw new CorruptError(`Cannot merge blob ${blob.id.toString()} from ${source.name}: digest mismatch: expected ${blob.hex}, computed ${computed}`,
        { details: { blob: blob.id.toString(), expected: blob.hex, computed } })
    }
    finished.push({ type: 'put', sublevel: 'blob', key: blob.hex, value: encode({ size: blob.record.size, chunks: blob.record.chunks }) })
    copied.blobs.push(blob.hex)
    blob = undefined
  }
  const fetchChunks = source.chunks ?? (async (wanted) => await Promise.all(wanted.map(async ({ hex }) => {
    const bytes = await source.chunk(hex)
    return bytes === undefined ? undefined : [bytes]
  })))
  const groups = readAhead(grouped(plan(dest, source, blobs, sizes)), GROUPS_AHEAD, (steps): Group => {
    const wanted = steps.flatMap((step) => step.kind === 'chunk' && !step.local ? [{ hex: step.hex, size: step.size }] : [])
    const bytes = wanted.reduce((sum, { size }) => sum + size, 0)
    const memory = bytes > 0 && bytes <= GROUP_MEMORY ? groupMemory.take() : undefined
    const group: Group = { steps, memory, fetched: settleQuietly(wanted.length === 0 ? Promise.resolve([]) : fetchChunks(wanted, memory?.bytes)), arrived: false }
    group.fetched.then(() => { group.arrived = true }, () => { group.arrived = true })
    return group
  })
  try {
    for await (const group of groups) {
      // Waiting for the source: name what is verified so far first, so that a copy killed while it waits keeps it.
      if (!group.arrived && pending.length > 0) void flush()
      const fetched = await group.fetched
      // Verified chunks are appended together, about WRITE_BYTES at a time, and named with the blobs finished so far.
      const verified = new Map<string, Pieces>()
      let verifiedBytes = 0
      const groupWrites: Array<Promise<void>> = []
      const storeVerified = async (): Promise<void> => {
        const stored = await storeChunks(dest, [...verified].map(([hex, bytes]) => ({ digest: Buffer.from(hex, 'hex'), bytes })))
        const written = stored[0]?.written ?? Promise.resolve()
        written.catch(() => undefined)
        writes.push(written)
        groupWrites.push(written)
        for (const [k, hex] of [...verified.keys()].entries()) {
          const chunk = stored[k]!
          pending.push(chunk.op)
          staged.set(hex, chunk)
          named.push(hex)
          copied.chunks.push(hex)
          pendingBytes += chunk.location.size
        }
        pending.push(...finished.splice(0))
        verified.clear()
        verifiedBytes = 0
      }
      let next = 0
      for (const step of group.steps) {
        options.signal?.throwIfAborted()
        if (step.kind === 'blob') {
          const [only, ...more] = step.record.chunks
          const single = only !== undefined && more.length === 0 && Buffer.from(only[0]).toString('hex') === step.hex
          blob = { id: step.id, hex: step.hex, record: step.record, whole: wholeHasherFor(step.record), size: 0, chunksLeft: step.record.chunks.length, single }
          if (blob.chunksLeft === 0) await finish()
          continue
        }
        const current = blob!
        let bytes: Pieces | undefined
        if (step.local) {
          bytes = verified.get(step.hex)
          if (bytes === undefined) {
            const held = await readStagedOrStored(dest, staged.get(step.hex), step.hex)
            if (held === undefined) throw new CorruptError(`Cannot merge blob ${current.id.toString()} from ${source.name}: chunk ${step.hex} vanished from the destination during the merge`)
            bytes = [held]
          }
        } else {
          bytes = fetched[next++]
          if (bytes === undefined) throw new CorruptError(`Cannot merge from ${source.name}: it lacks chunk ${step.hex} of blob ${current.id.toString()}`)
          const computed = sha256Hex(bytes)
          if (computed !== step.hex) {
            throw new CorruptError(`Cannot merge blob ${current.id.toString()} from ${source.name}: chunk digest mismatch: expected ${step.hex}, computed ${computed}`,
              { details: { blob: current.id.toString(), expected: step.hex, computed } })
          }
        }
        const length = piecesLength(bytes)
        if (length !== step.size) {
          throw new CorruptError(`Cannot merge blob ${current.id.toString()} from ${source.name}: chunk ${step.hex} has ${length} bytes, its record says ${step.size}`)
        }
        if (!step.local) {
          verified.set(step.hex, bytes)
          verifiedBytes += length
          copied.bytes += length
        }
        if (!current.single) await current.whole.update(bytes)
        current.size += length
        if (--current.chunksLeft === 0) await finish()
        options.onProgress?.({ type: 'snapstore:merge:bytes', done: copied.bytes })
        if (verifiedBytes >= WRITE_BYTES) await storeVerified()
      }
      await storeVerified()
      // The group's memory is lent again once every chunk read into it is written (a failed merge never gives it back).
      if (group.memory !== undefined) void Promise.all(groupWrites).then(group.memory.release, () => undefined)
      if (pendingBytes >= BATCH_BYTES || pending.length >= BATCH_OPS) {
        await flushed
        void flush()
      }
    }
    await flush()
  } catch (err) {
    await blob?.whole.close()
    // Only verified chunks and whole verified blobs are pending here: keeping them is safe. Otherwise the
    // batch under way lands before the caller takes back what was copied.
    await (keepsVerifiedCopies(err) ? flush() : flushed).catch(() => undefined)
    throw err
  }
}

async function readStagedOrStored (dest: Store, staged: StoredChunk | undefined, hex: string): Promise<Uint8Array | undefined> {
  if (staged === undefined) return await readChunk(dest, hex)
  await staged.written
  return await dest.packs.read(staged.location)
}

/** Cuts the steps into groups of about GROUP_BYTES of chunks to read from the source. */
async function * grouped (steps: AsyncIterable<Step>): AsyncGenerator<Step[]> {
  let group: Step[] = []
  let bytes = 0
  for await (const step of steps) {
    group.push(step)
    if (step.kind === 'chunk' && !step.local) bytes += step.size
    if (bytes >= GROUP_BYTES || group.length >= GROUP_STEPS) {
      yield group
      group = []
      bytes = 0
    }
  }
  if (group.length > 0) yield group
}

/**
 * The blobs to copy (by hex digest) as steps: each blob's checked record, then its chunks, each marked as held
 * by the destination or not. A blob's id is built only while it is copied, and a chunk that is the whole blob
 * is known by the blob's own digest string: what a merge keeps per blob is a few strings, not objects.
 */
async function * plan (dest: Store, source: MergeSource, blobs: Iterable<string>, sizes: ReadonlyMap<string, number>): AsyncGenerator<Step> {
  const fromSource = new Set<string>()
  const fetchRecords = source.blobRecords ?? (async (hexes) => await Promise.all(hexes.map(async (hex) => await source.blobRecord(hex))))
  const batches = readAhead(inGroups(blobs, RECORDS_PER_GROUP), 2, (group) => ({ group, records: settleQuietly(fetchRecords(group)) }))
  for await (const { group, records } of batches) {
    const fetched = await records
    const checked = group.map((hex, i) => {
      const id = cidFromHex(RAW, hex)
      const record = checkRecord(source, id, fetched[i])
      if (sizes.get(hex) !== undefined && sizes.get(hex) !== record.size) {
        throw new CorruptError(`Cannot merge from ${source.name}: blob ${id.toString()} has ${record.size} bytes, but an event says ${sizes.get(hex)}`)
      }
      return { id, hex, record, chunkHexes: record.chunks.map(([digest]) => sameHex(digest, hex) ?? Buffer.from(digest).toString('hex')) }
    })
    // One lookup in the destination for the chunks of the whole group.
    const held = await hasChunks(dest, checked.flatMap(({ chunkHexes }) => chunkHexes))
    let k = 0
    for (const { id, hex, record, chunkHexes } of checked) {
      yield { kind: 'blob', id, hex, record }
      for (const [j, [, size]] of record.chunks.entries()) {
        const chunkHex = chunkHexes[j]!
        const local = fromSource.has(chunkHex) || held[k++] === true
        if (!local) fromSource.add(chunkHex)
        yield { kind: 'chunk', hex: chunkHex, size, local }
      }
    }
  }
}

/** `hex` when `digest` is the digest it spells, so that one string serves both. */
function sameHex (digest: Uint8Array, hex: string): string | undefined {
  return Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).equals(Buffer.from(hex, 'hex')) ? hex : undefined
}

function * inGroups<T> (items: Iterable<T>, size: number): Generator<T[]> {
  let group: T[] = []
  for (const item of items) {
    group.push(item)
    if (group.length >= size) {
      yield group
      group = []
    }
  }
  if (group.length > 0) yield group
}

function checkRecord (source: MergeSource, id: CID, bytes: Uint8Array | undefined): BlobRecord {
  if (bytes === undefined) throw new CorruptError(`Cannot merge from ${source.name}: it lacks blob ${id.toString()}, which its events name`)
  const record = decode<BlobRecord>(bytes)
  const wellFormed = typeof record?.size === 'number' && Array.isArray(record.chunks) && record.chunks.every((chunk) =>
    Array.isArray(chunk) && chunk[0] instanceof Uint8Array && chunk[0].length === 32 && Number.isSafeInteger(chunk[1]) && chunk[1] >= 0)
  if (!wellFormed) throw new CorruptError(`Cannot merge from ${source.name}: the record of blob ${id.toString()} is malformed`)
  return record
}

/** Deletes what a failed merge copied, records and then the pack bytes appended after `packsEnd`, so the destination is as it was. */
export async function uncopyBlobs (dest: Store, copied: CopiedBlobs, packsEnd: PacksEnd): Promise<void> {
  const ops: Op[] = [
    ...copied.blobs.map((key): Op => ({ type: 'del', sublevel: 'blob', key })),
    ...copied.chunks.map((key): Op => ({ type: 'del', sublevel: 'chunkAt', key }))
  ]
  await writeBatch(dest, ops, true)
  // Nothing names those bytes now; bytes left by a failure here are never read, and later appends go after them.
  await dest.packs.truncateTo(packsEnd).catch(() => undefined)
}
