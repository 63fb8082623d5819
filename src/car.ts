import { createWriteStream } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { decode, encode } from './codec.ts'
import { BadInputError, CorruptError, NotFoundError, isSnapstoreError } from './errors.ts'
import { eventReferences } from './event-format.ts'
import { DAG_CBOR, RAW, cidFromDigest, cidFromHex, digestHex, eventId, sha256Hex } from './ids.ts'
import { iterateLog, iterateOrigin, listHeads, readEventAt } from './log.ts'
import { parseEventKey, parsePositionKey } from './keys.ts'
import { readBlobRecords } from './blobs.ts'
import { readChunks } from './chunks.ts'
import { readAhead, settleQuietly } from './merge/read-ahead.ts'
import { resolveId } from './resolve.ts'
import { runEventPositions } from './projections/run-events.ts'
import { runOf } from './projections/runs.ts'
import { needsUpgrade } from './store.ts'
import { temporaryBeside } from './write-file.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecord } from './blobs.ts'
import type { BlobRecordProjection } from './projections/blobs.ts'
import type { Store } from './store.ts'
import type { OperationOptions, OriginHead } from './types.ts'

/** The root block of a snapstore CAR file: which heads it carries and the manifest of each blob. */
export interface CarRoot {
  snapstore: 'car'
  version: 1
  heads: Array<{ origin: string, seq: number, head: CID }>
  blobs: CID[]
}

/** A blob manifest block: the whole-content id, its size, its chunks as raw blocks and (since sync) each chunk's size. */
export interface BlobManifest {
  blob: CID
  size: number
  chunks: CID[]
  /** Chunk sizes in order; lets a CAR leave out chunks its receiver already holds. */
  sizes?: number[]
}

/** What an export wrote. */
export interface ExportResult {
  events: number
  blobs: number
}

/**
 * What a CAR file carries: for each origin, the events after `after` (the receiver's version vector;
 * none left out when absent) up to its head, the blobs (hex digests) those events name that are in
 * `blobs`, and their chunks except those in `skipChunks` (which the receiver holds).
 */
export interface CarPlan {
  heads: readonly OriginHead[]
  after?: ReadonlyMap<string, number>
  blobs: ReadonlySet<string>
  skipChunks?: ReadonlySet<string>
}

/**
 * Writes a CARv1 file holding the events and blobs a receiving store needs: everything, or for the
 * given ids (snapshots, configs, blobs, runs, events) each origin's chain up to the last event naming
 * them, with every blob those events name. The file appears only when complete.
 */
export async function exportCar (store: Store, path: string, ids: readonly string[] = [], options: OperationOptions = {}): Promise<ExportResult> {
  const heads = ids.length === 0 ? await listHeads(store) : await headsFor(store, ids)
  const { blobs } = await carContents(store, heads, new Map(), options)
  return await writeCar(store, path, { heads, blobs }, options)
}

/** Counts the events a CAR of `heads` above `after` carries, and collects the hex digests of the blobs they name. */
export async function carContents (store: Store, heads: readonly OriginHead[], after: ReadonlyMap<string, number> = new Map(), options: OperationOptions = {}): Promise<{ events: number, blobs: Set<string> }> {
  const blobs = new Set<string>()
  let events = 0
  for (const head of heads) {
    for await (const { event } of iterateOrigin(store, head.origin, (after.get(head.origin) ?? 0) + 1)) {
      options.signal?.throwIfAborted()
      if (event.seq > head.seq) break
      events++
      const refs = eventReferences(event)
      for (const cid of [...refs.blobs, ...refs.either]) if (cid.code === RAW) blobs.add(digestHex(cid))
    }
  }
  return { events, blobs }
}

/** A blob's manifest block, with the record it was made from. */
interface Manifest {
  cid: CID
  bytes: Uint8Array
  record: BlobRecord
}

/**
 * Writes the CAR file a plan describes: root, then each blob's chunks and manifest, then events in seq order
 * per origin. Blobs are taken a page of records at a time, twice: once for the ids of their manifests (the
 * root lists them all, and comes first), then to write them; a manifest is made the same way both times.
 * Memory holds a page, the manifest ids and the chunks already written, not every record. The file appears
 * only when complete.
 */
export async function writeCar (store: Store, path: string, plan: CarPlan, options: OperationOptions = {}): Promise<ExportResult> {
  const hexes = [...plan.blobs]
  const manifestIds: CID[] = []
  for (let i = 0; i < hexes.length; i += RECORDS_AT_ONCE) {
    options.signal?.throwIfAborted()
    for (const { cid } of await manifestsOf(store, hexes.slice(i, i + RECORDS_AT_ONCE))) manifestIds.push(cid)
  }
  const root: CarRoot = { snapstore: 'car', version: 1, heads: plan.heads.map(({ origin, seq, head }) => ({ origin, seq, head })), blobs: manifestIds }
  const rootBytes = encode(root)
  manifestIds.length = 0
  const rootCid = eventId(rootBytes)
  const folder = await stat(dirname(path)).catch(() => undefined)
  if (folder?.isDirectory() !== true) throw new BadInputError(`Cannot write "${path}": ${folder === undefined ? 'no such directory' : 'a part of the path is not a directory'}`)
  const { CarWriter } = await import('@ipld/car/writer')
  const { writer, out } = CarWriter.create([rootCid])
  const temporary = await temporaryBeside(path)
  const written = pipeline(Readable.from(out), createWriteStream(temporary, { flush: true }))
  // A file that cannot be written fails the pipeline while blocks are still being put: that is awaited below.
  written.catch(() => undefined)
  let events = 0
  try {
    await writer.put({ cid: rootCid, bytes: rootBytes })
    // Each blob's chunks (those not sent before), then its manifest; a page's chunks are read a group ahead.
    const sent = new Set<string>(plan.skipChunks)
    for (let i = 0; i < hexes.length; i += RECORDS_AT_ONCE) {
      const manifests = await manifestsOf(store, hexes.slice(i, i + RECORDS_AT_ONCE))
      const perManifest = manifests.map((manifest) => manifest.record.chunks.flatMap(([digest, size]) => {
        const hex = Buffer.from(digest).toString('hex')
        if (sent.has(hex)) return []
        sent.add(hex)
        return [{ hex, size, digest }]
      }))
      const chunks = chunksAhead(store, perManifest.flat())
      for (const [m, manifest] of manifests.entries()) {
        for (const { hex, digest } of perManifest[m]!) {
          options.signal?.throwIfAborted()
          const { value: bytes } = await chunks.next()
          if (!(bytes instanceof Uint8Array)) throw new CorruptError(`Cannot export: chunk ${hex} is missing`)
          // A damaged chunk is refused here, not by whoever receives the file.
          const computed = sha256Hex(bytes)
          if (computed !== hex) throw new CorruptError(`Cannot export: chunk ${hex} does not match its digest (computed ${computed})`, { details: { expected: hex, computed } })
          await writer.put({ cid: cidFromDigest(RAW, digest), bytes })
        }
        await writer.put({ cid: manifest.cid, bytes: manifest.bytes })
      }
    }
    for (const head of plan.heads) {
      for await (const stored of iterateOrigin(store, head.origin, (plan.after?.get(head.origin) ?? 0) + 1)) {
        options.signal?.throwIfAborted()
        if (stored.event.seq > head.seq) break
        await writer.put({ cid: stored.id, bytes: stored.bytes })
        events++
      }
    }
    await writer.close()
    await written
    await rename(temporary, path)
  } catch (err) {
    await writer.close().catch(() => undefined)
    await written.catch(() => undefined)
    await rm(temporary, { force: true })
    throw err
  }
  return { events, blobs: hexes.length }
}

/** The manifests of some blobs (by hex digest), made from their records read with one lookup. */
async function manifestsOf (store: Store, hexes: readonly string[]): Promise<Manifest[]> {
  const ids = hexes.map((hex) => cidFromHex(RAW, hex))
  const records = await readBlobRecords(store, ids)
  return ids.map((blob, i) => {
    const record = records[i]
    if (record === undefined) throw new CorruptError(`Cannot export: blob ${blob.toString()} is named by an event but missing`)
    const manifest: BlobManifest = { blob, size: record.size, chunks: record.chunks.map(([digest]) => cidFromDigest(RAW, digest)), sizes: record.chunks.map(([, size]) => size) }
    const bytes = encode(manifest)
    return { cid: cidFromHex(DAG_CBOR, sha256Hex(bytes)), bytes, record }
  })
}

/** Per origin, the highest seq needed to carry the events naming the given ids, and every event those name. */
async function headsFor (store: Store, ids: readonly string[]): Promise<OriginHead[]> {
  const wanted = new Set<string>()
  for (const text of ids) wanted.add((await resolveId(store, text, 'any')).toString())
  const highest = new Map<string, number>()
  for (const head of await listHeads(store)) {
    for await (const { id, event } of iterateOrigin(store, head.origin)) {
      const refs = eventReferences(event)
      const named = [id, ...refs.blobs, ...refs.events, ...refs.either].some((cid) => wanted.has(cid.toString()))
      if (named) highest.set(event.origin, event.seq)
    }
  }
  if (highest.size === 0) throw new NotFoundError(`Cannot export ${ids.join(', ')}: no event names them`)
  // What the carried events name comes along, with the chains of the origins that recorded it: an event (a
  // tag on another store's run), every event of a named run (its checkpoints and its end, wherever recorded),
  // and the blob.add events that gave a named blob its kinds, name and metadata (a run's start snapshot
  // added in another store): the receiving store then lists and reads everything the carried events name.
  const raise = (origin: string, seq: number): void => { if (seq > (highest.get(origin) ?? 0)) highest.set(origin, seq) }
  const followed = new Set<string>()
  const read: RunEventsRead = {}
  const done = new Map<string, number>()
  for (let pending = [...highest.keys()]; pending.length > 0; pending = [...highest].filter(([o, seq]) => (done.get(o) ?? 0) < seq).map(([o]) => o)) {
    for (const origin of pending) {
      const from = (done.get(origin) ?? 0) + 1
      const to = highest.get(origin)!
      done.set(origin, to)
      for await (const stored of iterateOrigin(store, origin, from)) {
        if (stored.event.seq > to) break
        const refs = eventReferences(stored.event)
        // A carried run event brings its whole run too (a run.start names no run, yet is one).
        const run = runOf(stored)
        const named = [...refs.blobs, ...refs.events, ...refs.either].map((cid) => ({ kind: cid.code === RAW ? 'blob' as const : 'event' as const, hex: digestHex(cid) }))
        for (const { kind, hex } of run === undefined ? named : [...named, { kind: 'event' as const, hex: run }]) {
          if (followed.has(hex)) continue
          followed.add(hex)
          for (const { origin, seq } of await recordedBy(store, kind, hex, read)) raise(origin, seq)
        }
      }
    }
  }
  const heads: OriginHead[] = []
  for (const [origin, seq] of highest) {
    const stored = await readEventAt(store, origin, seq)
    if (stored !== undefined) heads.push({ origin, seq, head: stored.id })
  }
  return heads
}

/** Where the events that record what an id names lie: an event and, for a run, every event of the run; for a blob, the blob.add events its projection keeps. */
async function recordedBy (store: Store, kind: 'blob' | 'event', hex: string, read: RunEventsRead): Promise<Array<{ origin: string, seq: number }>> {
  if (kind === 'blob') {
    const record = await store.sub.blobs.get(hex)
    if (record === undefined) return []
    const { kinds, name, meta } = decode<BlobRecordProjection>(record)
    return [...Object.values(kinds), ...(name === undefined ? [] : [name.at]), ...(meta === undefined ? [] : [meta.at])]
  }
  const at = await store.sub.eventId.get(hex)
  if (at === undefined) return []
  return [parseEventKey(new TextDecoder().decode(at)), ...await runEventsOf(store, hex, read)]
}

/** Where a run's events lie (none when `hex` names no run): from the run-events index, or, in a store not yet upgraded to it, from one read of the log. */
async function runEventsOf (store: Store, hex: string, read: RunEventsRead): Promise<Array<{ origin: string, seq: number }>> {
  if (!needsUpgrade(store)) return (await runEventPositions(store, hex)).map(parsePositionKey)
  if (read.byRun === undefined) {
    const byRun = new Map<string, Array<{ origin: string, seq: number }>>()
    for await (const stored of iterateLog(store)) {
      const run = runOf(stored)
      if (run === undefined) continue
      const positions = byRun.get(run) ?? []
      positions.push({ origin: stored.event.origin, seq: stored.event.seq })
      byRun.set(run, positions)
    }
    read.byRun = byRun
  }
  return read.byRun.get(hex) ?? []
}

/** The run events of a store without the run-events index, read from its log at most once per export. */
interface RunEventsRead {
  byRun?: Map<string, Array<{ origin: string, seq: number }>>
}

// An export reads blob records this many at a time.
const RECORDS_AT_ONCE = 1000
// An export reads chunks in groups of about this many bytes (or CHUNKS_PER_GROUP), the next group while this one is written.
const GROUP_BYTES = 4 * 1024 * 1024
const CHUNKS_PER_GROUP = 256

/** The bytes of each chunk in order (undefined for one the store lacks), read in groups, one group ahead. */
async function * chunksAhead (store: Store, wanted: ReadonlyArray<{ hex: string, size: number }>): AsyncGenerator<Uint8Array | undefined> {
  const groups: Array<typeof wanted> = []
  for (let i = 0; i < wanted.length;) {
    let bytes = 0
    let end = i
    while (end < wanted.length && end - i < CHUNKS_PER_GROUP && (end === i || bytes + wanted[end]!.size <= GROUP_BYTES)) bytes += wanted[end++]!.size
    groups.push(wanted.slice(i, end))
    i = end
  }
  const unreadable = (hex: string, err: unknown): never => {
    throw isSnapstoreError(err) ? new CorruptError(`Cannot export: chunk ${hex}: ${err.message}`, { cause: err }) : err as Error
  }
  const read = (group: typeof wanted): Promise<Array<Uint8Array | undefined>> => {
    const memory = Buffer.allocUnsafe(group.reduce((sum, { size }) => sum + size, 0))
    return settleQuietly(readChunks(store, group, memory, unreadable))
  }
  for await (const reading of readAhead(groups, 2, read)) yield * await reading
}
