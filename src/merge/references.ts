import { decode } from '../codec.ts'
import { CorruptError } from '../errors.ts'
import { DigestSet } from '../digest-set.ts'
import { DAG_CBOR, RAW, cidFromHex, hexOfDigest } from '../ids.ts'
import { REF_BYTES, REF_EITHER, REF_RAW, checkedDigest } from './opened-page.ts'
import type { CheckedEvent } from './opened-page.ts'
import type { BlobRecord } from '../blobs.ts'
import type { Store } from '../store.ts'
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
  async note (group: readonly CheckedEvent[]): Promise<void> {
    if (group.length === 0) return
    // The hex digest of every reference, in order; a blob is named by the raw codec, an event by dag-cbor.
    const hexes: string[] = []
    const blobKeys = new Set<string>()
    const eventKeys = new Set<string>()
    let inGroup: Set<string> | undefined
    for (const { page, index } of group) {
      for (let at = page.refStarts[index]!; at < page.refStarts[index + 1]!; at += REF_BYTES) {
        const digest = page.refs.subarray(at + 1, at + REF_BYTES)
        const hex = hexOfDigest(digest)
        hexes.push(hex)
        if ((page.refs[at]! & REF_RAW) !== 0) {
          if (!this.needed.has(hex) && !this.#destBlobs.has(hex)) blobKeys.add(hex)
        } else if (!this.events.has(digest)) {
          inGroup ??= new Set(group.map((checked) => hexOfDigest(checkedDigest(checked))))
          if (!inGroup.has(hex) && !this.#destEvents.has(hex)) eventKeys.add(hex)
        }
      }
    }
    await this.#lookUp(blobKeys, eventKeys)
    let next = 0
    for (const checked of group) {
      const { page, index } = checked
      const first = next
      for (let at = page.refStarts[index]!; at < page.refStarts[index + 1]!; at += REF_BYTES) {
        const flags = page.refs[at]!
        const hex = hexes[next++]!
        if ((flags & REF_RAW) !== 0) {
          if (!this.needed.has(hex) && !this.#destBlobs.has(hex)) this.needed.add(hex)
        } else if (!this.events.has(page.refs.subarray(at + 1, at + REF_BYTES)) && !this.#destEvents.has(hex)) {
          const named = cidFromHex(DAG_CBOR, hex).toString()
          throw new CorruptError(`Cannot merge event ${page.origin}:${page.firstSeq + index} in ${this.#source.name}: it names ${(flags & REF_EITHER) !== 0 ? '' : 'event '}${named}, which neither store holds`)
        }
      }
      // A blob.add names its blob first, and only it; keyed by the string `needed` holds: one string per blob, however many maps name it.
      const size = page.sizes[index]!
      if (size >= 0) this.#noteSize(hexes[first]!, size)
      this.events.add(checkedDigest(checked))
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
        if (claimed !== undefined && claimed !== size) this.#noteSize(hex, claimed)
      }
    }
    return this.needed
  }

  /** Every `blob.add` must state its blob's true size: checked against the destination's record now, the source's when copied. */
  #noteSize (hex: string, size: number): void {
    const claimed = this.sizes.get(hex)
    if (claimed !== undefined && claimed !== size) throw new CorruptError(`Cannot merge from ${this.#source.name}: events disagree about the size of blob ${cidFromHex(RAW, hex).toString()}`)
    this.sizes.set(hex, size)
    const ours = this.#destBlobs.get(hex)
    if (ours !== undefined && ours !== size) {
      throw new CorruptError(`Cannot merge from ${this.#source.name}: a blob.add says blob ${cidFromHex(RAW, hex).toString()} has ${size} bytes; it has ${ours}`)
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
