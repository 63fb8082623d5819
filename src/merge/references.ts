import { decode } from '../codec.ts'
import { CorruptError } from '../errors.ts'
import { eventReferences } from '../event-format.ts'
import { RAW, digestHex } from '../ids.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecord } from '../blobs.ts'
import type { Store } from '../store.ts'
import type { StoredEvent } from '../types.ts'
import type { MergeSource } from './source.ts'

/**
 * What the checking pass of a merge learns from the incoming events, a group at a time: the events that
 * arrive, the blobs the destination lacks (to copy), and the size each `blob.add` states. The destination
 * is asked about a whole group's references with one `getMany` per keyspace, not one read per reference.
 */
export class IncomingReferences {
  /** Hex digests of the incoming events' ids, in the order checked. */
  readonly events = new Set<string>()
  /** Blobs named by incoming events that the destination lacks, by hex digest. */
  readonly needed = new Map<string, CID>()
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
    const named = group.map(({ event }) => {
      const refs = eventReferences(event)
      return {
        blobs: [...refs.blobs, ...refs.either.filter((cid) => cid.code === RAW)].map((cid) => ({ cid, hex: digestHex(cid) })),
        events: refs.events.map((cid) => ({ cid, hex: digestHex(cid), either: false }))
          .concat(refs.either.filter((cid) => cid.code !== RAW).map((cid) => ({ cid, hex: digestHex(cid), either: true })))
      }
    })
    const blobKeys = new Set<string>()
    const eventKeys = new Set<string>()
    for (const { blobs, events } of named) {
      for (const { hex } of blobs) if (!this.needed.has(hex) && !this.#destBlobs.has(hex)) blobKeys.add(hex)
      for (const { hex } of events) if (!this.events.has(hex) && !inGroup.has(hex) && !this.#destEvents.has(hex)) eventKeys.add(hex)
    }
    await this.#lookUp(blobKeys, eventKeys)
    const from = this.#source.name
    group.forEach(({ id, event }, i) => {
      const where = `${event.origin}:${event.seq} in ${from}`
      const { blobs, events } = named[i]!
      for (const { cid, hex } of blobs) if (!this.needed.has(hex) && !this.#destBlobs.has(hex)) this.needed.set(hex, cid)
      for (const { cid, hex, either } of events) {
        if (!this.events.has(hex) && !this.#destEvents.has(hex)) throw new CorruptError(`Cannot merge event ${where}: it names ${either ? '' : 'event '}${cid.toString()}, which neither store holds`)
      }
      if (event.type === 'blob.add') this.#noteSize(event.body.blob, event.body.size)
      this.events.add(digestHex(id))
    })
  }

  /** Every `blob.add` must state its blob's true size: checked against the destination's record now, the source's when copied. */
  #noteSize (blob: CID, size: number): void {
    const hex = digestHex(blob)
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
      const found = await this.#dest.sub.eventId.getMany(keys)
      keys.forEach((hex, i) => { if (found[i] !== undefined) this.#destEvents.add(hex) })
    }
  }
}
