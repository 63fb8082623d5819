import { decode } from './codec.ts'
import { randomBytes } from 'node:crypto'
import { BadInputError, isSnapstoreError } from './errors.ts'
import { eventReferences, openEvent } from './event-format.ts'
import { DAG_CBOR, RAW, cidFromHex, digestHex, sha256Hex } from './ids.ts'
import { parseEventKey } from './keys.ts'
import { verifyBlob } from './blobs.ts'
import { decodeChunkLocation, readChunkAt } from './chunks.ts'
import { packName } from './packs/packs.ts'
import { ProjectionCheck } from './projection-check.ts'
import { BULK_READ, exclusive } from './store.ts'
import { withoutBlobPuts } from './blob-writers.ts'
import { CID } from 'multiformats/cid'
import type { BlobRecord } from './blobs.ts'
import type { ChunkLocation } from './packs/packs.ts'
import type { Store } from './store.ts'
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

// References (with the sizes blob.add events state) and blob keys are looked up this many at a time.
const PAGE = 1000

/** A reference an event makes, to be looked up with others of its page. */
interface Reference {
  at: string
  cid: CID
  hex: string
  as: 'blob' | 'event' | 'either'
  /** The size a `blob.add` says its blob has. */
  size: number | undefined
  /** Its place among every reference, so problems are listed in log order whichever lookup found them. */
  index: number
}

/**
 * Re-hashes every event and blob, checks every origin's chain and seq continuity, every reference,
 * the version vector and clock, and that the projections equal a rebuild from the log. Memory stays
 * bounded whatever the size of the store: the log is read once (twice when the id index fails to confirm
 * a reference), references are looked up a page at a time, and the rebuild is written to a scratch store
 * under `os.tmpdir()`, removed afterwards.
 * @example
 * const report = await verifyStore(store)
 * if (!report.ok) console.error(report.problems.join('\n'))
 */
export async function verifyStore (store: Store, options: VerifyOptions = {}): Promise<VerifyReport> {
  if (options.sample !== undefined && !(options.sample > 0 && options.sample <= 100)) throw new BadInputError(`Invalid sample "${options.sample}": expected a percentage above 0 and at most 100`)
  // One state of the store is checked: writes from this process wait (other processes cannot open it).
  return await exclusive(store, async () => await withoutBlobPuts(store, async () => await checkStore(store, options)))
}

async function checkStore (store: Store, options: VerifyOptions): Promise<VerifyReport> {
  const rebuild = await ProjectionCheck.start()
  try {
    const problems: string[] = []
    const log = await checkLog(store, rebuild, problems, options)
    await checkHeads(store, log, problems)
    let blobs: number
    let sampled: { chunks: number, of: number } | undefined
    if (options.sample === undefined) blobs = await checkBlobs(store, problems, options)
    else ({ blobs, sampled } = await sampleChunks(store, options.sample, problems, options))
    problems.push(...await rebuild.problems(store, options.signal))
    return { ok: problems.length === 0, events: log.events, blobs, problems, ...(sampled === undefined ? {} : { sampled }) }
  } finally {
    await rebuild.close()
  }
}

/** What reading the log found out about its origins. */
interface LogSummary {
  events: number
  /** The last event seen of each origin; its id is undefined when that event could not be read. */
  chains: Map<string, { seq: number, id: CID | undefined, clock: number }>
  maxClock: number
}

/**
 * Reads every event once, in (origin, seq) order: re-hashes it, checks its key, chain, seq and clock, looks up
 * what it names (and the size it gives a blob), and hands it to the rebuild.
 */
async function checkLog (store: Store, rebuild: ProjectionCheck, problems: string[], options: OperationOptions): Promise<LogSummary> {
  const chains: LogSummary['chains'] = new Map()
  const references = new ReferenceCheck(store)
  let maxClock = 0
  let events = 0
  for await (const [key, bytes] of store.sub.event.iterator(BULK_READ)) {
    options.signal?.throwIfAborted()
    const { origin, seq } = parseEventKey(key)
    const at = `${origin}:${seq}`
    events++
    let stored
    try {
      stored = openEvent(bytes, at)
    } catch (err) {
      const message = isSnapstoreError(err) ? err.message : String(err)
      problems.push(`event ${at}: ${message}`)
      rebuild.fail(message)
      // It is there, unreadable: the events after it are not reported as following a gap.
      chains.set(origin, { seq, id: undefined, clock: chains.get(origin)?.clock ?? 0 })
      continue
    }
    const { event, id } = stored
    if (event.origin !== origin || event.seq !== seq) problems.push(`event ${at}: stored under the wrong key (it says ${event.origin}:${event.seq})`)
    const previous = chains.get(origin)
    const expectedSeq = (previous?.seq ?? 0) + 1
    if (seq !== expectedSeq) problems.push(`origin ${origin}: seq ${expectedSeq} is missing before seq ${seq}`)
    else if (previous?.id !== undefined && (event.prev === null || !event.prev.equals(previous.id))) problems.push(`event ${at}: prev does not name event ${origin}:${previous.seq} (${previous.id.toString()})`)
    if (previous !== undefined && event.clock <= previous.clock) problems.push(`event ${at}: clock ${event.clock} does not exceed the clock of the event before it`)
    chains.set(origin, { seq, id, clock: event.clock })
    maxClock = Math.max(maxClock, event.clock)
    const refs = eventReferences(event)
    // A blob.add's blob comes with the size it states, checked against the blob's record in the same lookup.
    for (const cid of refs.blobs) await references.add(at, cid, 'blob', event.type === 'blob.add' && cid === event.body.blob ? event.body.size : undefined)
    for (const cid of refs.events) await references.add(at, cid, 'event')
    for (const cid of refs.either) await references.add(at, cid, 'either')
    await rebuild.add(stored)
    if (events % 10000 === 0) options.onProgress?.({ type: 'snapstore:verify:event', done: events })
  }
  await rebuild.finish()
  problems.push(...await references.problems(options))
  return { events, chains, maxClock }
}

/**
 * Looks up what events name, a page at a time: a blob by its record; an event by the store's id index, then
 * the event the index points at, re-hashed, so only an event the log holds counts (the index may be what is
 * damaged). References the index does not confirm are looked for in a second reading of the log, made only
 * when there are any: memory holds a page and those references (as many as the index fails, at most every
 * event reference when it is lost), never every id.
 */
class ReferenceCheck {
  readonly #store: Store
  #page: Reference[] = []
  #count = 0
  readonly #missing: Reference[] = []
  readonly #unconfirmed: Reference[] = []
  readonly #wrongSizes: string[] = []

  constructor (store: Store) {
    this.#store = store
  }

  async add (at: string, cid: CID, as: Reference['as'], size?: number): Promise<void> {
    this.#page.push({ at, cid, hex: digestHex(cid), as, size, index: this.#count++ })
    if (this.#page.length >= PAGE) await this.#lookUp()
  }

  /** Every reference to something the store lacks, in log order, then every blob.add whose size its blob's record contradicts. */
  async problems (options: OperationOptions): Promise<string[]> {
    await this.#lookUp()
    if (this.#unconfirmed.length > 0) {
      const wanted = new Map<string, Reference[]>()
      for (const reference of this.#unconfirmed) {
        const same = wanted.get(reference.hex)
        if (same === undefined) wanted.set(reference.hex, [reference])
        else same.push(reference)
      }
      // An event counts as held as in the first lookup: stored bytes that hash to its id (unreadable ones are reported as such).
      for await (const bytes of this.#store.sub.event.values(BULK_READ)) {
        options.signal?.throwIfAborted()
        wanted.delete(sha256Hex(bytes))
        if (wanted.size === 0) break
      }
      for (const references of wanted.values()) this.#missing.push(...references)
    }
    return [...this.#missing.sort((a, b) => a.index - b.index).map(({ at, cid }) => `event ${at}: names ${cid.toString()}, which the store lacks`), ...this.#wrongSizes]
  }

  async #lookUp (): Promise<void> {
    const page = this.#page
    this.#page = []
    const blobs = page.filter(({ cid, as }) => as !== 'event' && cid.code === RAW)
    const events = page.filter(({ cid, as }) => as !== 'blob' && cid.code === DAG_CBOR)
    const [records, confirmed] = await Promise.all([
      blobs.length === 0 ? [] : this.#store.sub.blob.getMany(blobs.map(({ hex }) => hex)),
      this.#confirmEvents(events)
    ])
    // Found, or left for the second reading of the log.
    const settled = new Set<Reference>()
    blobs.forEach((reference, i) => {
      const record = records[i]
      if (record === undefined) return
      settled.add(reference)
      // An unreadable record is reported with its blob.
      const stated = reference.size === undefined ? undefined : tryDecode<{ size?: unknown }>(record)?.size
      if (typeof stated === 'number' && stated !== reference.size) this.#wrongSizes.push(`event ${reference.at}: says blob ${reference.cid.toString()} has ${reference.size} bytes; it has ${stated}`)
    })
    events.forEach((reference, i) => {
      settled.add(reference)
      if (confirmed[i] !== true) this.#unconfirmed.push(reference)
    })
    for (const reference of page) if (!settled.has(reference)) this.#missing.push(reference)
  }

  /** For each event reference, whether the id index points at a stored event with exactly that id. */
  async #confirmEvents (events: readonly Reference[]): Promise<boolean[]> {
    if (events.length === 0) return []
    const keys = (await this.#store.sub.eventId.getMany(events.map(({ hex }) => hex))).map((value) => value === undefined ? undefined : Buffer.from(value).toString('utf8'))
    const present = keys.flatMap((key) => key === undefined ? [] : [key])
    const stored = present.length === 0 ? [] : await this.#store.sub.event.getMany(present)
    const bytesAt = new Map(present.map((key, i) => [key, stored[i]]))
    return events.map(({ hex }, i) => {
      const bytes = keys[i] === undefined ? undefined : bytesAt.get(keys[i]!)
      return bytes !== undefined && sha256Hex(bytes) === hex
    })
  }
}

/** Checks the version vector against the chains the log holds, and the clock against the highest event clock. */
async function checkHeads (store: Store, { chains, maxClock }: LogSummary, problems: string[]): Promise<void> {
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
}

/** Re-hashes every blob, two at a time so both cores hash; problems are listed in the blobs' order all the same. Returns how many there are. */
async function checkBlobs (store: Store, problems: string[], options: OperationOptions): Promise<number> {
  // How many there are takes a pass over the keys: made only when someone watches the progress.
  let total: number | undefined
  if (options.onProgress !== undefined) {
    total = 0
    for await (const _ of paged(store.sub.blob.keys())) total++
  }
  const found: Array<{ index: number, problem: string }> = []
  const keys = paged(store.sub.blob.keys())
  let next = 0
  let done = 0
  const worker = async (): Promise<void> => {
    // Both workers take keys from one generator: its requests are queued, each key goes to one of them.
    for (let item = await keys.next(); item.done !== true; item = await keys.next()) {
      options.signal?.throwIfAborted()
      const index = next++
      const id = cidFromHex(RAW, item.value)
      try {
        await verifyBlob(store, id, options.signal === undefined ? {} : { signal: options.signal })
      } catch (err) {
        found.push({ index, problem: `blob ${id.toString()}: ${isSnapstoreError(err) ? err.message : String(err)}` })
      }
      done++
      options.onProgress?.({ type: 'snapstore:verify:blob', done, ...(total === undefined ? {} : { total }) })
    }
  }
  try {
    // Both end before the store can be given back, even when one fails (an interrupt) while the other hashes.
    const ended = await Promise.allSettled([worker(), worker()])
    for (const end of ended) if (end.status === 'rejected') throw end.reason
  } finally {
    await keys.return(undefined)
  }
  problems.push(...found.sort((a, b) => a.index - b.index).map(({ problem }) => problem))
  return next
}

/** What an iterator of the database gives, read a page at a time. */
async function * paged<T> (iterator: { nextv: (size: number) => Promise<T[]>, close: () => Promise<void> }): AsyncGenerator<T> {
  try {
    for (;;) {
      const items = await iterator.nextv(PAGE)
      if (items.length === 0) return
      yield * items
    }
  } finally {
    await iterator.close()
  }
}

/**
 * Re-hashes a random `percent` of the chunks the store holds (at least one when there are any), and checks
 * that every chunk each blob lists is present and within its pack: restic's read-data-subset, for quick
 * periodic checks of big stores. A chunk is chosen by its digest and a number drawn for this run, so a chunk
 * many blobs share is chosen, and re-hashed, once; every blob that uses a damaged chunk is named. Memory
 * stays bounded: the chunk index and the blob records are each read a page at a time.
 */
async function sampleChunks (store: Store, percent: number, problems: string[], options: OperationOptions): Promise<{ blobs: number, sampled: { chunks: number, of: number } }> {
  const damaged = new Map<string, string>()
  const packs = new PackSizes(store)
  const salt = randomBytes(4).readUInt32BE()
  const threshold = percent >= 100 ? Infinity : Math.floor(percent / 100 * 2 ** 32)
  let chunks = 0
  let held = 0
  let first: { hex: string, value: Uint8Array | undefined } | undefined
  const rehash = async (hex: string, value: Uint8Array | undefined): Promise<void> => {
    // A chunk whose location is unsound is reported with the blobs that use it, below.
    const located = value === undefined ? { location: undefined } : await packs.locate(hex, value)
    if ('problem' in located) return
    options.signal?.throwIfAborted()
    try {
      const bytes = await readChunkAt(store, hex, located.location)
      const computed = bytes === undefined ? 'nothing' : sha256Hex(bytes)
      if (computed !== hex) damaged.set(hex, `digest mismatch: expected ${hex}, computed ${computed}`)
    } catch (err) {
      damaged.set(hex, `cannot be read: ${isSnapstoreError(err) ? err.message : String(err)}`)
    }
    chunks++
    options.onProgress?.({ type: 'snapstore:verify:chunk', done: chunks })
  }
  for await (const [hex, value] of heldChunks(store)) {
    held++
    // The chunk re-hashed when chance chose none: the first that lies where its location says.
    if (first === undefined && (value === undefined || !('problem' in await packs.locate(hex, value)))) first = { hex, value }
    if (((Number.parseInt(hex.slice(0, 8), 16) ^ salt) >>> 0) < threshold) await rehash(hex, value)
  }
  if (chunks === 0 && first !== undefined) await rehash(first.hex, first.value)

  let blobs = 0
  let page: string[] = []
  const checkPage = async (): Promise<void> => {
    const records = page.length === 0 ? [] : await store.sub.blob.getMany(page)
    // The blobs of this page that use each chunk, named together when it is damaged.
    const owners = new Map<string, string[]>()
    page.forEach((hex, i) => {
      const record = records[i]
      const listed = record === undefined ? undefined : tryDecode<BlobRecord>(record)?.chunks
      if (!Array.isArray(listed)) {
        if (record !== undefined) problems.push(`blob ${cidFromHex(RAW, hex).toString()}: its record cannot be read`)
        return
      }
      for (const [digest] of listed) {
        const chunk = Buffer.from(digest).toString('hex')
        const users = owners.get(chunk)
        if (users === undefined) owners.set(chunk, [hex])
        else if (users.at(-1) !== hex) users.push(hex)
      }
    })
    const report = (chunk: string, problem: string): void => {
      for (const owner of owners.get(chunk)!) problems.push(`blob ${cidFromHex(RAW, owner).toString()}: chunk ${chunk} ${problem}`)
    }
    const all = [...owners.keys()]
    await checkPresence(store, all, packs, report)
    for (const chunk of all) {
      const problem = damaged.get(chunk)
      if (problem !== undefined) report(chunk, problem)
    }
    page = []
  }
  for await (const hex of paged(store.sub.blob.keys())) {
    blobs++
    page.push(hex)
    if (page.length >= PAGE) await checkPage()
  }
  await checkPage()
  return { blobs, sampled: { chunks, of: held } }
}

/** Every chunk the store holds with its location, then (in a store of the first format) every chunk held inline, with none. */
async function * heldChunks (store: Store): AsyncGenerator<[string, Uint8Array | undefined]> {
  yield * paged(store.sub.chunkAt.iterator())
  if (!store.inlineChunks) return
  for await (const hex of paged(store.sub.chunk.keys())) yield [hex, undefined]
}

/**
 * Reports each chunk that is missing, whose location is malformed, or that lies in a pack that is gone or
 * ends before the chunk does.
 */
async function checkPresence (store: Store, chunks: string[], packs: PackSizes, report: (chunk: string, problem: string) => void): Promise<void> {
  if (chunks.length === 0) return
  const locations = await store.sub.chunkAt.getMany(chunks)
  const unplaced = chunks.filter((_, i) => locations[i] === undefined)
  const held = store.inlineChunks && unplaced.length > 0 ? await store.sub.chunk.hasMany(unplaced) : []
  const inline = new Set(unplaced.filter((_, i) => held[i] === true))
  for (const [i, chunk] of chunks.entries()) {
    const value = locations[i]
    if (value === undefined) {
      if (!inline.has(chunk)) report(chunk, 'is missing')
      continue
    }
    const located = await packs.locate(chunk, value)
    if ('problem' in located) report(chunk, located.problem)
  }
}

/** The sizes of the store's pack files as they are now on disk, each read once. */
class PackSizes {
  readonly #store: Store
  readonly #sizes = new Map<number, Promise<number | undefined>>()

  constructor (store: Store) {
    this.#store = store
  }

  /** Where a chunk lies, or why that cannot be so: a malformed location, a pack that is gone or ends before the chunk does. */
  async locate (chunk: string, value: Uint8Array): Promise<{ location: ChunkLocation } | { problem: string }> {
    let location
    try {
      location = decodeChunkLocation(chunk, value)
    } catch (err) {
      return { problem: isSnapstoreError(err) ? err.message : String(err) }
    }
    let size = this.#sizes.get(location.pack)
    if (size === undefined) this.#sizes.set(location.pack, size = this.#store.packs.fileSize(location.pack))
    const end = location.offset + location.size
    const have = await size
    if (have === undefined) return { problem: `lies in pack ${packName(location.pack)}, which is missing` }
    if (have < end) return { problem: `lies past the end of pack ${packName(location.pack)}: it ends at byte ${end}, the pack at ${have}` }
    return { location }
  }
}

/** The decoded value, or undefined when the bytes are not CBOR this store writes. */
function tryDecode<T> (bytes: Uint8Array): T | undefined {
  try {
    return decode<T>(bytes)
  } catch {
    return undefined
  }
}
