import { decode, encode } from './codec.ts'
import { BadInputError, CorruptError, NotFoundError } from './errors.ts'
import { eventReferences, openEvent, sealEvent } from './event-format.ts'
import { RAW, digestHex } from './ids.ts'
import { eventKey, parseEventKey, parsePositionKey, pad } from './keys.ts'
import { StateOverlay } from './ops.ts'
import { STATE_SUBLEVELS, keysNeeded, projectState } from './projections/index.ts'
import { logIndexOps } from './projections/log-index.ts'
import { BULK_READ, exclusive, needsUpgrade, upgradeFormat } from './store.ts'
import { runEventPositions } from './projections/run-events.ts'
import { StoreBatch, writeBatch } from './batch.ts'
import type { CID } from 'multiformats/cid'
import type { Op } from './ops.ts'
import type { Store, SublevelName } from './store.ts'
import type { EventDraft, EventType, OperationOptions, OriginHead, SnapEvent, StoredEvent } from './types.ts'

/** Options for appending events. */
export interface AppendOptions {
  /** Sync the batch to disk before resolving, so the ids survive a machine crash. @default true */
  sync?: boolean
}

/** An event to append: a draft, or a function of the events sealed before it in the same call (to name their ids). */
export type DraftSource = EventDraft | ((earlier: readonly StoredEvent[]) => EventDraft)

/** Events per atomic write batch when a call appends or merges many: large enough to amortize a write, small enough to overlap. */
export const EVENTS_PER_BATCH = 250

/**
 * Appends events from this store's origin: each event, its seq, `prev` link and clock, and every projection
 * update it causes. Every blob or event an event names must already be stored (or come earlier in the same
 * call); all are sealed and checked before anything is written. Up to `EVENTS_PER_BATCH` events are one atomic
 * batch; more are written as consecutive atomic batches of that size, each prepared while the one before it is
 * written, so a crash keeps a prefix of them, whole events only, and running the same work again completes it.
 * @example
 * const [ev] = await appendEvents(store, [{ type: 'tag.set', body: { name: 'best', target: blobId } }])
 */
export async function appendEvents (store: Store, drafts: readonly DraftSource[], options: AppendOptions = {}): Promise<StoredEvent[]> {
  return await exclusive(store, async () => await appendHeld(store, drafts, options))
}

/** `appendEvents` for a caller that holds the store's write queue already (see `exclusive`), so it can decide what to append from what it read in the same turn. */
export async function appendHeld (store: Store, drafts: readonly DraftSource[], options: AppendOptions = {}): Promise<StoredEvent[]> {
  const head = await readHead(store, store.origin)
  let seq = head?.seq ?? 0
  let prev: CID | null = head?.head ?? null
  let clock = store.clock
  const time = Date.now()
  const sealed: StoredEvent[] = []
  const references = new CallReferences(store)
  for (const source of drafts) {
    const draft = typeof source === 'function' ? source(sealed) : source
    const event = { v: 1, origin: store.origin, seq: ++seq, prev, clock: ++clock, time, host: store.host, ...draft } as SnapEvent
    const stored = sealEvent(event)
    prev = stored.id
    sealed.push(stored)
    if (sealed.length % EVENTS_PER_BATCH === 0) references.check(sealed.slice(-EVENTS_PER_BATCH))
  }
  references.check(sealed.slice(sealed.length - sealed.length % EVENTS_PER_BATCH))
  // The first batch is prepared while the last references are still being read; it is written only if they all exist.
  const committer = new EventCommitter(store, references.all())
  for (let i = 0; i < sealed.length; i += EVENTS_PER_BATCH) await committer.commit(sealed.slice(i, i + EVENTS_PER_BATCH), options.sync ?? true)
  await committer.settled()
  return sealed
}

/** Forces everything written to the store so far onto the disk (one synced write of the clock). */
export async function syncStore (store: Store): Promise<void> {
  await exclusive(store, async () => { await writeBatch(store, [{ type: 'put', sublevel: 'meta', key: 'clock', value: encode(store.clock) }], true) })
}

/**
 * Writes batches of already-sealed events in order, each with its index, projection, head and clock updates,
 * preparing a batch while the one before it is still being written: the database writes on a thread of its
 * own, so the two overlap. A batch is written only after the one before it has been, so a crash keeps a prefix
 * of the batches; a failed write fails the next `commit` or `settled`, and nothing after it is written.
 * The caller has checked ids, chains and references; the caller holds the store's write queue.
 */
export class EventCommitter {
  readonly #store: Store
  #clock: number
  #writing: Promise<void>
  // The projection state of the batch being written, which the database may not show yet.
  #state: StateOverlay | undefined

  readonly #projectionsOnly: boolean

  /**
   * `after`: what must succeed before the first batch is written (a check still reading); if it fails, nothing is.
   * `projectionsOnly`: write only what the events project (for events already in the log, as `reindex` does).
   */
  constructor (store: Store, after: Promise<void> = Promise.resolve(), projectionsOnly = false) {
    this.#store = store
    this.#clock = store.clock
    this.#projectionsOnly = projectionsOnly
    this.#writing = after
    // Reported by the first commit or by settled; never an unhandled rejection meanwhile.
    after.catch(() => {})
  }

  /** Prepares one batch and starts writing it once the batch before it is written. */
  async commit (events: readonly StoredEvent[], sync: boolean, extra: readonly Op[] = []): Promise<void> {
    if (events.length === 0 && extra.length === 0) return
    const store = this.#store
    // A store of an older format takes the current one before its first event is written here, once what
    // must succeed first has (a failed append leaves the store as it was), and before any run record is read.
    if (needsUpgrade(store)) {
      await this.#writing
      await upgradeFormat(store)
    }
    // The batch before the one being written is in the database: the state being written needs nothing beneath it.
    this.#state?.detach()
    const reading = prefetchState(store, events, new StateOverlay(STATE_SUBLEVELS, this.#state))
    // Reported below, once awaited; never an unhandled rejection meanwhile.
    reading.catch(() => {})
    const batch = new StoreBatch(store)
    const before = this.#clock
    let clock = before
    let state: StateOverlay
    try {
      for (const op of extra) batch.add(op)
      const heads = new Map<string, { seq: number, head: CID }>()
      // What needs no projection state is added while the state is read: the events and their index entries.
      for (const stored of events) {
        const { event } = stored
        if (!this.#projectionsOnly) batch.add({ type: 'put', sublevel: 'event', key: eventKey(event.origin, event.seq), value: stored.bytes })
        for (const op of logIndexOps(stored)) batch.add(op)
        if (this.#projectionsOnly) continue
        heads.set(event.origin, { seq: event.seq, head: stored.id })
        clock = Math.max(clock, event.clock)
      }
      state = await reading
      for (const stored of events) {
        const projected = projectState(stored, state)
        state.apply(projected)
        for (const op of projected) batch.add(op)
      }
      for (const [origin, head] of heads) batch.add({ type: 'put', sublevel: 'heads', key: origin, value: encode(head) })
      if (clock !== before) batch.add({ type: 'put', sublevel: 'meta', key: 'clock', value: encode(clock) })
      await this.#writing
    } catch (err) {
      await batch.discard()
      throw err
    }
    this.#clock = clock
    this.#state = state
    this.#writing = batch.write(sync).then(() => { store.clock = Math.max(store.clock, clock) })
    // Reported by the next commit or by settled; never an unhandled rejection meanwhile.
    this.#writing.catch(() => {})
  }

  /** Resolves once every batch committed so far is written; rejects if one failed. */
  async settled (): Promise<void> {
    await this.#writing
  }
}

/** Loads every projection value the events will read, with one `getMany` per sublevel. */
async function prefetchState (store: Store, events: readonly StoredEvent[], state: StateOverlay): Promise<StateOverlay> {
  const wanted = new Map<SublevelName, Set<string>>()
  for (const stored of events) {
    for (const [sublevel, key] of keysNeeded(stored)) {
      if (state.knows(sublevel, key)) continue
      const keys = wanted.get(sublevel) ?? new Set<string>()
      keys.add(key)
      wanted.set(sublevel, keys)
    }
  }
  for (const [sublevel, keySet] of wanted) {
    const keys = [...keySet]
    const values = await store.sub[sublevel].getMany(keys)
    keys.forEach((key, i) => state.seed(sublevel, key, values[i]))
  }
  return state
}

/**
 * Checks the references of one call's events a slice at a time as they are sealed, so each slice's reads
 * run while the events after it are sealed. Failures are reported in the order of the events.
 */
class CallReferences {
  readonly #store: Store
  // The ids (hex digests) of the call's events sealed so far: events may name them.
  readonly #inCall = new Set<string>()
  readonly #checks: Array<Promise<void>> = []

  constructor (store: Store) {
    this.#store = store
  }

  /** Starts checking a slice of events sealed after every slice before it. */
  check (events: readonly StoredEvent[]): void {
    if (events.length === 0) return
    for (const { id } of events) this.#inCall.add(digestHex(id))
    const check = checkReferences(this.#store, events, this.#inCall)
    // Reported by `all`, in order; never an unhandled rejection meanwhile.
    check.catch(() => {})
    this.#checks.push(check)
  }

  /** Resolves once every slice is checked; rejects with the failure of the earliest slice that failed. */
  async all (): Promise<void> {
    for (const check of this.#checks) await check
  }
}

/**
 * Fails with `E_NOT_FOUND` unless every blob and event the events name is stored or in `inCall`, the hex
 * digests of events written with them (by default their own). `inCall` is read before the first wait only.
 */
export async function checkReferences (store: Store, events: readonly StoredEvent[], inCall: ReadonlySet<string> = new Set(events.map(({ id }) => digestHex(id)))): Promise<void> {
  const references: Array<{ event: SnapEvent, cid: CID, hex: string, blob: boolean }> = []
  // A blob.add's blob is read whole (its size is checked); every other reference is only looked up.
  const sized = new Set<string>()
  const blobKeys = new Set<string>()
  const eventKeys = new Set<string>()
  for (const { event } of events) {
    const refs = eventReferences(event)
    for (const cid of refs.blobs) {
      const hex = digestHex(cid)
      references.push({ event, cid, hex, blob: true })
      if (event.type === 'blob.add') sized.add(hex)
      else blobKeys.add(hex)
    }
    for (const cid of [...refs.events, ...refs.either]) {
      const hex = digestHex(cid)
      // An event of the same call is written with it: nothing to look up.
      if (inCall.has(hex)) continue
      references.push({ event, cid, hex, blob: false })
      if (cid.code === RAW) blobKeys.add(hex)
      else eventKeys.add(hex)
    }
  }
  for (const hex of sized) blobKeys.delete(hex)
  // One read per keyspace for all the events, not one per event; the three at once.
  const [records, blobs, stored] = await Promise.all([readMany(store, 'blob', sized), holding(store, 'blob', blobKeys), holding(store, 'eventId', eventKeys)])
  for (const { event, cid, hex, blob } of references) {
    if (blob) {
      const record = records.get(hex)
      if (record === undefined && !blobs.has(hex)) throw new NotFoundError(`Cannot record ${event.type}: blob "${cid.toString()}" is not in the store`)
      if (event.type === 'blob.add') {
        const { size } = decode<{ size: number }>(record!)
        if (size !== event.body.size) throw new BadInputError(`Cannot record blob.add: blob "${cid.toString()}" has ${size} bytes, not ${event.body.size}`)
      }
    } else if (!blobs.has(hex) && !records.has(hex) && !stored.has(hex)) {
      throw new NotFoundError(`Cannot record ${event.type}: "${cid.toString()}" is not in the store`)
    }
  }
}

/** The values at `keys` that exist, by key. */
async function readMany (store: Store, sublevel: 'blob', keys: Set<string>): Promise<Map<string, Uint8Array>> {
  const list = [...keys]
  const values = list.length === 0 ? [] : await store.sub[sublevel].getMany(list)
  const found = new Map<string, Uint8Array>()
  list.forEach((key, i) => { if (values[i] !== undefined) found.set(key, values[i]!) })
  return found
}

/** Those of `keys` that exist, without reading their values. */
async function holding (store: Store, sublevel: 'blob' | 'eventId', keys: Set<string>): Promise<Set<string>> {
  const list = [...keys]
  const held = list.length === 0 ? [] : await store.sub[sublevel].hasMany(list)
  const found = new Set<string>()
  list.forEach((key, i) => { if (held[i] === true) found.add(key) })
  return found
}

/** The head of one origin in this store, or undefined when it holds no event of that origin. */
async function readHead (store: Store, origin: string): Promise<OriginHead | undefined> {
  const value = await store.sub.heads.get(origin)
  if (value === undefined) return undefined
  const { seq, head } = decode<{ seq: number, head: CID }>(value)
  return { origin, seq, head }
}

/** Every origin this store holds events of, with its highest seq and head id: the version vector. */
export async function listHeads (store: Store): Promise<OriginHead[]> {
  const heads: OriginHead[] = []
  for await (const [origin, value] of store.sub.heads.iterator()) {
    const { seq, head } = decode<{ seq: number, head: CID }>(value)
    heads.push({ origin, seq, head })
  }
  return heads
}

/** The event at (origin, seq), or undefined. */
export async function readEventAt (store: Store, origin: string, seq: number): Promise<StoredEvent | undefined> {
  const key = eventKey(origin, seq)
  const bytes = await store.sub.event.get(key)
  return bytes === undefined ? undefined : openEvent(bytes, `${origin}:${seq}`)
}

/** The event with the given id, or undefined. */
export async function readEventById (store: Store, id: CID): Promise<StoredEvent | undefined> {
  const key = await store.sub.eventId.get(digestHex(id))
  if (key === undefined) return undefined
  const { origin, seq } = parseEventKey(new TextDecoder().decode(key))
  const stored = await readEventAt(store, origin, seq)
  if (stored === undefined || !stored.id.equals(id)) throw new CorruptError(`Cannot read event "${id.toString()}": the id index points at ${origin}:${seq}, which holds another event`)
  return stored
}

/** Filters for reading the log. */
export interface LogQuery extends OperationOptions {
  origin?: string
  type?: EventType
  /** Only events at or after this time (ms since epoch). */
  since?: number
  limit?: number
  /** Only events of this run (its start, checkpoints, end or failure). */
  run?: CID
}

const PAGE = 512

/** Iterates the log in total order (clock, origin, seq), with optional filters. */
export async function * iterateLog (store: Store, query: LogQuery = {}): AsyncGenerator<StoredEvent> {
  if (query.limit !== undefined && (!Number.isInteger(query.limit) || query.limit < 0)) throw new BadInputError(`Cannot read the log: limit must be a non-negative integer, got ${query.limit}`)
  let left = query.limit ?? Infinity
  if (left === 0) return
  // A run's events come from their index, where the store has one; else (or for an id that is not a run's) the whole log is read.
  const viaIndex = query.run !== undefined && !needsUpgrade(store) && (await readEventById(store, query.run))?.event.type === 'run.start'
  const iterator = viaIndex ? pages(await runEventPositions(store, digestHex(query.run!))) : store.sub.order.keys(BULK_READ)
  try {
    for (;;) {
      query.signal?.throwIfAborted()
      const keys = await iterator.nextv(PAGE)
      if (keys.length === 0) return
      const positions = keys.map(parsePositionKey).filter((p) => query.origin === undefined || p.origin === query.origin)
      const values = await store.sub.event.getMany(positions.map((p) => eventKey(p.origin, p.seq)))
      for (let i = 0; i < positions.length; i++) {
        const p = positions[i]!
        const bytes = values[i]
        if (bytes === undefined) throw new CorruptError(`Cannot read the log: the order index names ${p.origin}:${p.seq}, which is missing`)
        const stored = openEvent(bytes, `${p.origin}:${p.seq}`)
        if (!matches(stored, query)) continue
        yield stored
        if (--left <= 0) return
      }
    }
  } finally {
    await iterator.close()
  }
}

/** A list read as an iterator's pages. */
function pages (keys: readonly string[]): { nextv: (size: number) => Promise<string[]>, close: () => Promise<void> } {
  let at = 0
  return {
    nextv: async (size) => keys.slice(at, at += size),
    close: async () => undefined
  }
}

function matches ({ id, event }: StoredEvent, query: LogQuery): boolean {
  if (query.type !== undefined && event.type !== query.type) return false
  if (query.since !== undefined && event.time < query.since) return false
  if (query.run !== undefined) {
    const run = (event.body as { run?: CID }).run
    if (!(id.equals(query.run) || (run !== undefined && run.equals(query.run)))) return false
  }
  return true
}

/** Iterates the events of one origin in seq order, from `fromSeq` on. */
export async function * iterateOrigin (store: Store, origin: string, fromSeq = 1): AsyncGenerator<StoredEvent> {
  for await (const [key, bytes] of store.sub.event.iterator({ ...BULK_READ, gte: eventKey(origin, fromSeq), lt: `${origin}:${pad(Number.MAX_SAFE_INTEGER)}~` })) {
    const { seq } = parseEventKey(key)
    yield openEvent(bytes, `${origin}:${seq}`)
  }
}
