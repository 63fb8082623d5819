import { decode } from '../codec.ts'
import { CorruptError } from '../errors.ts'
import { eventReferences } from '../event-format.ts'
import { DigestSet } from '../digest-set.ts'
import { RAW, cidFromHex, digestHex } from '../ids.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecord } from '../blobs.ts'
import type { Store } from '../store.ts'
import type { StoredEvent } from '../types.ts'
import type { MergeSource } from './source.ts'

/** Blobs looked up in the destination at once when the checking pass is over. */
const LOOKUP_PAGE = 1000

/**
 * What the checking pass of a merge learns from the incoming events, a group at a time: the events that
 * arrive, the blobs the destination lacks (to copy), and the size each `blob.add` states. The destination
 * is asked about a whole group's references with one read per keyspace, not one read per reference.
 */
export class IncomingReferences {
  /** The digests of the incoming events' ids, kept compactly: every incoming event adds one. */
  readonly events = new DigestSet()
  /** Blobs named by incoming events that the destination lacks, by hex digest (the strings `sizes` is keyed by). */
  readonly needed = new Set<string>()
  /** The size every `blob.add` states, by blob hex digest. */
  readonly sizes = new Map<string, number>()
  readonly #dest: Store
  readonly #source: MergeSource
  /** Sizes of blobs the destination holds, as looked up so far. */
  readonly #destBlobs = new Map<string, number>()
  /** Events the destination holds, as looked up so far. */
  readonly #destEvents = new Set<string>()

  constructor (dest: Store, source: MergeSource) {
    this.#dest = dest
    this.#source = source
  }

  /** Checks a group of events, in order: every event or blob each names is in the destination or arrived before it. */
  async note (group: readonly StoredEvent[]): Promise<void> {
    if (group.length === 0) return
    const inGroup = new Set(group.map((stored) => digestHex(stored.id)))
    // What each event names, in order: blobs, then events (marked when the field may name either).
    const named = group.map(({ event }) => namedBy(event))
    const blobKeys = new Set<string>()
    const eventKeys = new Set<string>()
    for (const refs of named) {
      for (const { cid, hex, blob } of refs) {
        if (blob) {
          if (!this.needed.has(hex) && !this.#destBlobs.has(hex)) blobKeys.add(hex)
        } else if (!this.events.has(cid.multihash.digest) && !inGroup.has(hex) && !this.#destEvents.has(hex)) eventKeys.add(hex)
      }
    }
    await this.#lookUp(blobKeys, eventKeys)
    for (const [i, { event }] of group.entries()) {
      for (const { cid, hex, blob, either } of named[i]!) {
        if (blob) {
          if (!this.needed.has(hex) && !this.#destBlobs.has(hex)) this.needed.add(hex)
        } else if (!this.events.has(cid.multihash.digest) && !this.#destEvents.has(hex)) {
          throw new CorruptError(`Cannot merge event ${event.origin}:${event.seq} in ${this.#source.name}: it names ${either ? '' : 'event '}${cid.toString()}, which neither store holds`)
        }
      }
      // Keyed by the string `needed` holds: one string per blob, however many maps name it.
      if (event.type === 'blob.add') this.#noteSize(event.body.blob, named[i]!.find(({ cid }) => cid === event.body.blob)?.hex ?? digestHex(event.body.blob), event.body.size)
      this.events.add(group[i]!.id.multihash.digest)
    }
  }

  /**
   * The needed blobs the destination still lacks. Those another call of this process put into it since they
   * were noted are dropped (their sizes checked against what events say): a merge neither copies nor, when
   * its source turns out to lie, takes back a blob it did not bring.
   */
  async stillNeeded (): Promise<Set<string>> {
    const hexes = [...this.needed]
    for (let i = 0; i < hexes.length; i += LOOKUP_PAGE) {
      const page = hexes.slice(i, i + LOOKUP_PAGE)
      const records = await this.#dest.sub.blob.getMany(page)
      for (const [j, hex] of page.entries()) {
        const record = records[j]
        if (record === undefined) continue
        this.needed.delete(hex)
        const size = decode<BlobRecord>(record).size
        this.#destBlobs.set(hex, size)
        const claimed = this.sizes.get(hex)
        if (claimed !== undefined && claimed !== size) this.#noteSize(cidFromHex(RAW, hex), hex, claimed)
      }
    }
    return this.needed
  }

  /** Every `blob.add` must state its blob's true size: checked against the destination's record now, the source's when copied. */
  #noteSize (blob: CID, hex: string, size: number): void {
    const claimed = this.sizes.get(hex)
    if (claimed !== undefined && claimed !== size) throw new CorruptError(`Cannot merge from ${this.#source.name}: events disagree about the size of blob ${blob.toString()}`)
    this.sizes.set(hex, size)
    const ours = this.#destBlobs.get(hex)
    if (ours !== undefined && ours !== size) {
      throw new CorruptError(`Cannot merge from ${this.#source.name}: a blob.add says blob ${blob.toString()} has ${size} bytes; it has ${ours}`)
    }
  }

  async #lookUp (blobKeys: Set<string>, eventKeys: Set<string>): Promise<void> {
    if (blobKeys.size > 0) {
      const keys = [...blobKeys]
      const records = await this.#dest.sub.blob.getMany(keys)
      keys.forEach((hex, i) => { if (records[i] !== undefined) this.#destBlobs.set(hex, decode<BlobRecord>(records[i]!).size) })
    }
    if (eventKeys.size > 0) {
      const keys = [...eventKeys]
      const held = await this.#dest.sub.eventId.hasMany(keys)
      keys.forEach((hex, i) => { if (held[i] === true) this.#destEvents.add(hex) })
    }
  }
}

/** One id an event names: a blob (by its codec where the field may name either) or an event. */
interface Named {
  cid: CID
  hex: string
  blob: boolean
  either: boolean
}

/** The blobs and events an event names. */
function namedBy (event: StoredEvent['event']): Named[] {
  const refs = eventReferences(event)
  const named: Named[] = []
  for (const cid of refs.blobs) named.push({ cid, hex: digestHex(cid), blob: true, either: false })
  for (const cid of refs.either) named.push({ cid, hex: digestHex(cid), blob: cid.code === RAW, either: true })
  for (const cid of refs.events) named.push({ cid, hex: digestHex(cid), blob: false, either: false })
  return named
}
