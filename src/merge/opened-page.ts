import { decode } from '../codec.ts'
import { isSnapstoreError } from '../errors.ts'
import { decodeEvent, eventReferences } from '../event-format.ts'
import { DAG_CBOR, RAW, cidFromDigest, sha256Into } from '../ids.ts'
import type { SnapEvent, StoredEvent } from '../types.ts'

const DIGEST_BYTES = 32
/** Each reference an event makes takes a flag byte and its sha-256 digest in `OpenedPage.refs`. */
export const REF_BYTES = 1 + DIGEST_BYTES

/** Flag of a reference in a field that may name a blob or an event (a tag's target). */
export const REF_EITHER = 1
/** Flag of a reference whose id has the raw codec (a blob's); without it, the id is an event's (dag-cbor). */
export const REF_RAW = 2

/** One origin's raw events, one after another in memory of their own, ready to be opened on any thread. */
export interface PageToOpen {
  /** The events' bytes back to back; its buffer moves to the thread that opens them and back. */
  memory: Uint8Array<ArrayBuffer>
  /** Where each event ends in `memory`. */
  ends: Uint32Array<ArrayBuffer>
  origin: string
  /** The seq the first event must have; each next one has the next seq. */
  firstSeq: number
  /** How the source is named in messages. */
  sourceName: string
}

/**
 * A page after opening: for each of its first `count` events (all of them, unless `failure`), the sha-256
 * digest of its bytes, its clock and the ids it names, in typed arrays that cross threads without copying.
 * Every event but the first is checked to continue the chain of the one before it; the first is left to
 * the caller, which knows the chain before the page.
 */
export interface OpenedPage extends PageToOpen {
  count: number
  /** The digest of each event's id, 32 bytes each. */
  ids: Uint8Array<ArrayBuffer>
  clocks: Float64Array<ArrayBuffer>
  /** The digest the first event's prev names, or undefined when it has none (seq 1). */
  firstPrev: Uint8Array<ArrayBuffer> | undefined
  /** Each event's references, one after another: a flag byte (`REF_*`) and a digest each. */
  refs: Uint8Array<ArrayBuffer>
  /** Where each event's references start in `refs`; one more entry than events, where the last ones end. */
  refStarts: Uint32Array<ArrayBuffer>
  /** The size each `blob.add` states; -1 for other events. */
  sizes: Float64Array<ArrayBuffer>
  /** Why event `count` could not be opened (`E_CORRUPT`), if one could not. */
  failure: string | undefined
}

/** Decodes, checks and hashes every event of a page, as far as the first that fails. Pure, so any thread can run it. */
export function openPage (page: PageToOpen): OpenedPage {
  const { memory, ends, origin, firstSeq, sourceName } = page
  const total = ends.length
  const ids = new Uint8Array(DIGEST_BYTES * total)
  const clocks = new Float64Array(total)
  const sizes = new Float64Array(total)
  const refStarts = new Uint32Array(total + 1)
  let refs = new Uint8Array(REF_BYTES * total * 2)
  let refsUsed = 0
  let firstPrev: Uint8Array<ArrayBuffer> | undefined
  let failure: string | undefined
  let count = 0
  for (; count < total; count++) {
    const seq = firstSeq + count
    const where = `${origin}:${seq} in ${sourceName}`
    const bytes = memory.subarray(count === 0 ? 0 : ends[count - 1], ends[count])
    let event: SnapEvent
    try {
      event = decodeEvent(bytes, where)
    } catch (err) {
      if (!isSnapstoreError(err)) throw err
      failure = err.message
      break
    }
    if (event.origin !== origin || event.seq !== seq) {
      failure = `Cannot merge event ${where}: it says it is ${event.origin}:${event.seq}`
      break
    }
    if (count === 0) firstPrev = event.prev === null ? undefined : event.prev.multihash.digest.slice()
    else if (event.prev === null || Buffer.compare(event.prev.multihash.digest, ids.subarray((count - 1) * DIGEST_BYTES, count * DIGEST_BYTES)) !== 0) {
      failure = `Cannot merge event ${where}: its prev link does not name the event before it`
      break
    } else if (event.clock <= clocks[count - 1]!) {
      failure = `Cannot merge event ${where}: its clock ${event.clock} does not exceed the clock of the event before it`
      break
    }
    sha256Into(bytes, ids, count * DIGEST_BYTES)
    clocks[count] = event.clock
    sizes[count] = event.type === 'blob.add' ? event.body.size : -1
    const named = eventReferences(event)
    const needed = refsUsed + REF_BYTES * (named.blobs.length + named.either.length + named.events.length)
    if (needed > refs.length) {
      const grown = new Uint8Array(Math.max(needed, refs.length * 2))
      grown.set(refs)
      refs = grown
    }
    for (const [flags, cids] of [[0, named.blobs], [REF_EITHER, named.either], [0, named.events]] as const) {
      for (const cid of cids) {
        refs[refsUsed] = flags | (cid.code === RAW ? REF_RAW : 0)
        refs.set(cid.multihash.digest, refsUsed + 1)
        refsUsed += REF_BYTES
      }
    }
    refStarts[count + 1] = refsUsed
  }
  return { ...page, count, ids, clocks, firstPrev, refs, refStarts, sizes, failure }
}

/** One event of an opened page. */
export interface CheckedEvent {
  page: OpenedPage
  index: number
}

/** The stored bytes of an opened event. */
export function checkedBytes ({ page, index }: CheckedEvent): Uint8Array {
  return page.memory.subarray(index === 0 ? 0 : page.ends[index - 1], page.ends[index])
}

/** The digest of an opened event's id. */
export function checkedDigest ({ page, index }: CheckedEvent): Uint8Array {
  return page.ids.subarray(index * DIGEST_BYTES, (index + 1) * DIGEST_BYTES)
}

/** An opened event decoded again, with its id. */
export function storedEventOf (checked: CheckedEvent): StoredEvent {
  const bytes = checkedBytes(checked)
  return { id: cidFromDigest(DAG_CBOR, checkedDigest(checked)), bytes, event: decode<SnapEvent>(bytes) }
}

/** The buffers of a page that move, not copy, when it is posted to another thread. */
export function transferablesOf (page: PageToOpen | OpenedPage): ArrayBuffer[] {
  const buffers = [page.memory.buffer, page.ends.buffer]
  if ('ids' in page) {
    buffers.push(page.ids.buffer, page.clocks.buffer, page.refs.buffer, page.refStarts.buffer, page.sizes.buffer)
    if (page.firstPrev !== undefined) buffers.push(page.firstPrev.buffer)
  }
  return buffers
}
