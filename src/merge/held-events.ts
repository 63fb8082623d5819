import { decode } from '../codec.ts'
import { DAG_CBOR, cidFromDigest } from '../ids.ts'
import type { SnapEvent, StoredEvent } from '../types.ts'

// Event bytes are copied into pages of this size; an event larger than a page gets one of its own.
const PAGE_BYTES = 1024 * 1024
const DIGEST_BYTES = 32

/**
 * The events a merge has checked, held between its checking pass and its writing pass: their bytes and
 * id digests copied into a few large buffers, up to a budget of bytes. Held this way they cost the
 * garbage collector almost nothing, where the decoded events would outlive the young generation one by
 * one; the writing pass decodes each again (a few microseconds), instead of reading and checking it again.
 */
export class HeldEvents {
  readonly #budget: number
  readonly #pages: Buffer[] = []
  #page = Buffer.alloc(0)
  #pageUsed = 0
  #digests = Buffer.alloc(DIGEST_BYTES * 1024)
  readonly #where: number[] = []
  #held = 0
  #bytes = 0

  constructor (budget: number) {
    this.#budget = budget
  }

  /** Holds one more checked event; false (and nothing held from then on) once the budget would be passed. */
  hold (stored: StoredEvent): boolean {
    const { bytes } = stored
    this.#bytes += bytes.length + DIGEST_BYTES
    if (this.#bytes > this.#budget) return false
    if (this.#pageUsed + bytes.length > this.#page.length) {
      this.#page = Buffer.allocUnsafe(Math.max(PAGE_BYTES, bytes.length))
      this.#pages.push(this.#page)
      this.#pageUsed = 0
    }
    this.#page.set(bytes, this.#pageUsed)
    this.#where.push(this.#pages.length - 1, this.#pageUsed, bytes.length)
    this.#pageUsed += bytes.length
    if ((this.#held + 1) * DIGEST_BYTES > this.#digests.length) {
      const grown = Buffer.allocUnsafe(this.#digests.length * 2)
      this.#digests.copy(grown)
      this.#digests = grown
    }
    this.#digests.set(stored.id.multihash.digest, this.#held * DIGEST_BYTES)
    this.#held++
    return true
  }

  /** The held events again, in the order they were held, decoded from their checked bytes, `pageSize` at a time. */
  * pages (pageSize: number): Generator<StoredEvent[]> {
    let page: StoredEvent[] = []
    for (let i = 0; i < this.#held; i++) {
      const memory = this.#pages[this.#where[3 * i]!]!
      const offset = this.#where[3 * i + 1]!
      const bytes = memory.subarray(offset, offset + this.#where[3 * i + 2]!)
      const id = cidFromDigest(DAG_CBOR, this.#digests.subarray(i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES))
      page.push({ id, bytes, event: decode<SnapEvent>(bytes) })
      if (page.length >= pageSize) {
        yield page
        page = []
      }
    }
    if (page.length > 0) yield page
  }
}
