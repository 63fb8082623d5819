import { decode } from './codec.ts'
import { createHash } from 'node:crypto'
import { BadInputError, isSnapstoreError } from './errors.ts'
import { eventReferences, openEvent } from './event-format.ts'
import { DAG_CBOR, RAW, cidFromHex, digestHex } from './ids.ts'
import { parseEventKey } from './keys.ts'
import { verifyBlob } from './blobs.ts'
import { decodeChunkLocation, readChunkAt } from './chunks.ts'
import { packName } from './packs/packs.ts'
import { rebuildState } from './rebuild.ts'
import { DERIVED_SUBLEVELS } from './store.ts'
import { CID } from 'multiformats/cid'
import type { BlobRecord } from './blobs.ts'
import type { ChunkLocation } from './packs/packs.ts'
import type { Store, SublevelName } from './store.ts'
import type { OperationOptions } from './types.ts'

/** The outcome of verifying a store. */
export interface VerifyReport {
  ok: boolean
  events: number
  blobs: number
  /** One line per problem found; empty when ok. */
  problems: string[]
  /** With a sample: how many distinct chunks were re-hashed, of how many. */
  sampled?: { chunks: number, of: number }
}

/** Options for verifying. */
export interface VerifyOptions extends OperationOptions {
  /** Re-hash only this percentage of the chunks, chosen at random; everything else is still checked. */
  sample?: number
}

const MAX_PROJECTION_PROBLEMS = 20
// The rebuild's rows are looked up in the store this many at a time.
const MISSING_PAGE = 1000

/**
 * Re-hashes every event and blob, checks every origin's chain and seq continuity, every reference,
 * the version vector and clock, and that the projections equal a rebuild from the log.
 * @example
 * const report = await verifyStore(store)
 * if (!report.ok) console.error(report.problems.join('\n'))
 */
export async function verifyStore (store: Store, options: VerifyOptions = {}): Promise<VerifyReport> {
  const problems: string[] = []
  const blobKeys = new Set<string>()
  for await (const key of store.sub.blob.keys()) blobKeys.add(key)
  const eventIds = new Set<string>()
  const references: Array<{ at: string, cid: CID, as: 'blob' | 'event' | 'either' }> = []
  // The last event seen of each origin; its id is undefined when that event could not be read.
  const chains = new Map<string, { seq: number, id: CID | undefined, clock: number }>()
  const sizes: Array<{ at: string, hex: string, size: number }> = []
  let maxClock = 0
  let events = 0

  for await (const [key, bytes] of store.sub.event.iterator()) {
    options.signal?.throwIfAborted()
    const { origin, seq } = parseEventKey(key)
    const at = `${origin}:${seq}`
    events++
    let stored
    try {
      stored = openEvent(bytes, at)
    } catch (err) {
      problems.push(`event ${at}: ${isSnapstoreError(err) ? err.message : String(err)}`)
      // It is there, unreadable: the events after it are not reported as following a gap.
      chains.set(origin, { seq, id: undefined, clock: chains.get(origin)?.clock ?? 0 })
      continue
    }
    const { event, id } = stored
    eventIds.add(digestHex(id))
    if (event.origin !== origin || event.seq !== seq) problems.push(`event ${at}: stored under the wrong key (it says ${event.origin}:${event.seq})`)
    const previous = chains.get(origin)
    const expectedSeq = (previous?.seq ?? 0) + 1
    if (seq !== expectedSeq) problems.push(`origin ${origin}: seq ${expectedSeq} is missing before seq ${seq}`)
    else if (previous?.id !== undefined && (event.prev === null || !event.prev.equals(previous.id))) problems.push(`event ${at}: prev does not name event ${origin}:${previous.seq} (${previous.id.toString()})`)
    if (previous !== undefined && event.clock <= previous.clock) problems.push(`event ${at}: clock ${event.clock} does not exceed the clock of the event before it`)
    chains.set(origin, { seq, id, clock: event.clock })
    maxClock = Math.max(maxClock, event.clock)
    if (event.type === 'blob.add') sizes.push({ at, hex: digestHex(event.body.blob), size: event.body.size })
    const refs = eventReferences(event)
    for (const cid of refs.blobs) references.push({ at, cid, as: 'blob' })
    for (const cid of refs.events) references.push({ at, cid, as: 'event' })
    for (const cid of refs.either) references.push({ at, cid, as: 'either' })
    if (events % 10000 === 0) options.onProgress?.({ type: 'snapstore:verify:event', done: events })
  }

  for (const { at, cid, as } of references) {
    const hex = digestHex(cid)
    const present = (as !== 'event' && cid.code === RAW && blobKeys.has(hex)) || (as !== 'blob' && cid.code === DAG_CBOR && eventIds.has(hex))
    if (!present) problems.push(`event ${at}: names ${cid.toString()}, which the store lacks`)
  }

  const recorded = sizes.filter(({ hex }) => blobKeys.has(hex))
  let nextSize = 0
  for await (const record of blobRecords(store, recorded.map(({ hex }) => hex))) {
    const { at, hex, size } = recorded[nextSize++]!
    // An unreadable record is reported with its blob below.
    const stated = record === undefined ? undefined : tryDecode<{ size?: unknown }>(record)?.size
    if (typeof stated === 'number' && stated !== size) problems.push(`event ${at}: says blob ${cidFromHex(RAW, hex).toString()} has ${size} bytes; it has ${stated}`)
  }

  const heads: Array<{ origin: string, seq: number, head: CID }> = []
  const unreadableHeads = new Set<string>()
  for await (const [origin, value] of store.sub.heads.iterator()) {
    const head = tryDecode<{ seq?: unknown, head?: unknown }>(value)
    if (typeof head?.seq === 'number' && head.head instanceof CID) heads.push({ origin, seq: head.seq, head: head.head })
    else {
      problems.push(`origin ${origin}: its entry in the version vector cannot be read`)
      unreadableHeads.add(origin)
    }
  }
  for (const head of heads) {
    const chain = chains.get(head.origin)
    if (chain === undefined || chain.seq !== head.seq || chain.id === undefined || !chain.id.equals(head.head)) {
      problems.push(`origin ${head.origin}: the version vector says seq ${head.seq}, the log ends at ${chain?.seq ?? 0}`)
    }
  }
  for (const origin of chains.keys()) if (!heads.some((h) => h.origin === origin) && !unreadableHeads.has(origin)) problems.push(`origin ${origin}: missing from the version vector`)
  if (store.clock < maxClock) problems.push(`clock ${store.clock} is below the highest event clock ${maxClock}`)

  let blobs = 0
  let sampled: { chunks: number, of: number } | undefined
  if (options.sample === undefined) {
    // Two blobs at a time keep both cores hashing; problems are reported in the blobs' order all the same.
    const keys = [...blobKeys]
    const found = new Array<string | undefined>(keys.length)
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        options.signal?.throwIfAborted()
        const index = next++
        const id = cidFromHex(RAW, keys[index]!)
        try {
          await verifyBlob(store, id)
        } catch (err) {
          found[index] = `blob ${id.toString()}: ${isSnapstoreError(err) ? err.message : String(err)}`
        }
        blobs++
        options.onProgress?.({ type: 'snapstore:verify:blob', done: blobs, total: blobKeys.size })
      }
    }
    await Promise.all([worker(), worker()])
    for (const problem of found) if (problem !== undefined) problems.push(problem)
  } else {
    blobs = blobKeys.size
    sampled = await sampleChunks(store, blobKeys, options.sample, problems, options)
  }

  problems.push(...await projectionProblems(store, options))
  return { ok: problems.length === 0, events, blobs, problems, ...(sampled === undefined ? {} : { sampled }) }
}

// Blob records are read this many at a time.
const RECORDS_PER_READ = 1000

/** The records of the given blobs in their order (undefined where absent), read RECORDS_PER_READ at a time. */
async function * blobRecords (store: Store, hexes: readonly string[]): AsyncGenerator<Uint8Array | undefined> {
  for (let from = 0; from < hexes.length; from += RECORDS_PER_READ) yield * await store.sub.blob.getMany(hexes.slice(from, from + RECORDS_PER_READ))
}

/**
 * Re-hashes a random `percent` of the distinct chunks (at least one when there are any), and checks that
 * every chunk each blob lists is present and within its pack: restic's read-data-subset, for quick periodic
 * checks of big stores.
 */
async function sampleChunks (store: Store, blobKeys: ReadonlySet<string>, percent: number, problems: string[], options: OperationOptions): Promise<{ chunks: number, of: number }> {
  if (!(percent > 0 && percent <= 100)) throw new BadInputError(`Invalid sample "${percent}": expected a percentage above 0 and at most 100`)
  // Every blob that uses a chunk is named when it is damaged: a shared chunk damages them all.
  const owners = new Map<string, string[]>()
  const hexes = [...blobKeys]
  let next = 0
  for await (const record of blobRecords(store, hexes)) {
    const hex = hexes[next++]!
    const chunks = record === undefined ? undefined : tryDecode<BlobRecord>(record)?.chunks
    if (!Array.isArray(chunks)) {
      if (record !== undefined) problems.push(`blob ${cidFromHex(RAW, hex).toString()}: its record cannot be read`)
      continue
    }
    for (const [digest] of chunks) {
      const chunk = Buffer.from(digest).toString('hex')
      const users = owners.get(chunk)
      if (users === undefined) owners.set(chunk, [hex])
      else if (users.at(-1) !== hex) users.push(hex)
    }
  }
  const report = (chunk: string, problem: string): void => {
    for (const owner of owners.get(chunk)!) problems.push(`blob ${cidFromHex(RAW, owner).toString()}: chunk ${chunk} ${problem}`)
  }
  const all = [...owners.keys()]
  const sound = await soundChunks(store, all, report)
  const candidates = [...sound.keys()]
  const chosen = candidates.filter(() => Math.random() * 100 < percent)
  if (chosen.length === 0 && candidates.length > 0) chosen.push(candidates[0]!)
  let done = 0
  for (const chunk of chosen) {
    options.signal?.throwIfAborted()
    try {
      const bytes = await readChunkAt(store, chunk, sound.get(chunk))
      const computed = bytes === undefined ? 'nothing' : createHash('sha256').update(bytes).digest('hex')
      if (computed !== chunk) report(chunk, `digest mismatch: expected ${chunk}, computed ${computed}`)
    } catch (err) {
      report(chunk, `cannot be read: ${isSnapstoreError(err) ? err.message : String(err)}`)
    }
    options.onProgress?.({ type: 'snapstore:verify:chunk', done: ++done, total: chosen.length })
  }
  return { chunks: chosen.length, of: all.length }
}

/**
 * The chunks the store holds whose bytes lie within their pack file as it is now on disk, each with its
 * location (undefined: held inline in the database); every other chunk is reported: missing, a malformed
 * location, a pack that is gone or ends before the chunk does.
 */
async function soundChunks (store: Store, chunks: readonly string[], report: (chunk: string, problem: string) => void): Promise<Map<string, ChunkLocation | undefined>> {
  const locations = await store.sub.chunkAt.getMany(chunks as string[])
  const unplaced = chunks.filter((_, i) => locations[i] === undefined)
  const held = store.inlineChunks && unplaced.length > 0 ? await store.sub.chunk.hasMany(unplaced) : []
  const inline = new Set(unplaced.filter((_, i) => held[i] === true))
  const packSizes = new Map<number, Promise<number | undefined>>()
  const sound = new Map<string, ChunkLocation | undefined>()
  for (const [i, chunk] of chunks.entries()) {
    const value = locations[i]
    if (value === undefined) {
      if (inline.has(chunk)) sound.set(chunk, undefined)
      else report(chunk, 'is missing')
      continue
    }
    let location
    try {
      location = decodeChunkLocation(chunk, value)
    } catch (err) {
      report(chunk, isSnapstoreError(err) ? err.message : String(err))
      continue
    }
    let size = packSizes.get(location.pack)
    if (size === undefined) packSizes.set(location.pack, size = store.packs.fileSize(location.pack))
    const end = location.offset + location.size
    const have = await size
    if (have === undefined) report(chunk, `lies in pack ${packName(location.pack)}, which is missing`)
    else if (have < end) report(chunk, `lies past the end of pack ${packName(location.pack)}: it ends at byte ${end}, the pack at ${have}`)
    else sound.set(chunk, location)
  }
  return sound
}

/** The decoded value, or undefined when the bytes are not CBOR this store writes. */
function tryDecode<T> (bytes: Uint8Array): T | undefined {
  try {
    return decode<T>(bytes)
  } catch {
    return undefined
  }
}

async function projectionProblems (store: Store, options: OperationOptions): Promise<string[]> {
  const problems: string[] = []
  let rebuilt
  try {
    rebuilt = (await rebuildState(store, options)).state
  } catch (err) {
    return [`projections: cannot rebuild from the log: ${isSnapstoreError(err) ? err.message : String(err)}`]
  }
  // Past the first few, differences are only counted.
  let more = 0
  const report = (problem: string): void => {
    if (problems.length < MAX_PROJECTION_PROBLEMS) problems.push(problem)
    else more++
  }
  // The stored rows against the rebuild, then the rebuild's rows the store lacks, looked up a page at a time:
  // no second copy of the rebuild's keys is held.
  for (const name of DERIVED_SUBLEVELS) {
    for await (const [key, value] of store.sub[name].iterator()) {
      const want = rebuilt.get(name, key)
      if (want === undefined) report(`projection ${name} ${key}: present, but a rebuild does not have it`)
      else if (!Buffer.from(want).equals(value)) report(`projection ${name} ${key}: differs from a rebuild`)
    }
  }
  let page: Array<[SublevelName, string]> = []
  const findMissing = async (): Promise<void> => {
    for (const name of new Set(page.map(([sublevel]) => sublevel))) {
      const keys = page.flatMap(([sublevel, key]) => sublevel === name ? [key] : [])
      const stored = await store.sub[name].getMany(keys)
      keys.forEach((key, i) => { if (stored[i] === undefined) report(`projection ${name} ${key}: missing`) })
    }
    page = []
  }
  for (const [sublevel, key] of rebuilt.entries()) {
    page.push([sublevel, key])
    if (page.length >= MISSING_PAGE) await findMissing()
  }
  await findMissing()
  if (more > 0) problems.push(`projections: ${more} more differences (run "snapstore reindex" to rebuild them)`)
  return problems
}

