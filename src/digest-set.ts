import { randomBytes } from 'node:crypto'

const DIGEST_BYTES = 32
const EMPTY = 0

/**
 * A set of sha-256 digests kept in one buffer with an open-addressing index: about 45 bytes a digest,
 * where a Set of their hex strings takes about 100 and collects slowly. The index mixes each digest's first
 * 8 bytes with a number drawn per set: to pile entries into one run of slots, a hostile source would need
 * ids sharing 8 bytes, which takes about 2^64 hashing for each.
 */
export class DigestSet {
  #digests = Buffer.allocUnsafe(DIGEST_BYTES * 1024)
  // Slot values are 1 + the digest's place in #digests; EMPTY marks a free slot. Kept at most half full.
  #slots = new Int32Array(2048)
  #size = 0
  readonly #seed = randomBytes(4).readInt32LE()

  /** How many digests the set holds. */
  get size (): number {
    return this.#size
  }

  /** Whether the set holds `digest` (32 bytes; anything else it never holds). */
  has (digest: Uint8Array): boolean {
    return digest.length === DIGEST_BYTES && this.#slots[this.#find(digest)] !== EMPTY
  }

  /** Adds `digest` (32 bytes); false when the set held it already. */
  add (digest: Uint8Array): boolean {
    if (digest.length !== DIGEST_BYTES) throw new RangeError(`A digest is ${DIGEST_BYTES} bytes, not ${digest.length}`)
    const slot = this.#find(digest)
    if (this.#slots[slot] !== EMPTY) return false
    if ((this.#size + 1) * DIGEST_BYTES > this.#digests.length) {
      const grown = Buffer.allocUnsafe(this.#digests.length * 2)
      this.#digests.copy(grown)
      this.#digests = grown
    }
    this.#digests.set(digest, this.#size * DIGEST_BYTES)
    this.#slots[slot] = ++this.#size
    if (this.#size * 2 > this.#slots.length) this.#rehash()
    return true
  }

  /** The slot holding `digest`, or the free slot where it would go. */
  #find (digest: Uint8Array): number {
    const mask = this.#slots.length - 1
    for (let slot = this.#hash(digest) & mask; ; slot = (slot + 1) & mask) {
      const held = this.#slots[slot]!
      if (held === EMPTY || this.#equals(held - 1, digest)) return slot
    }
  }

  /** Mixes the first 8 bytes with the seed between two multiplications: crowding one run of slots takes digests that share 8 bytes. */
  #hash (digest: Uint8Array): number {
    const low = digest[0]! | (digest[1]! << 8) | (digest[2]! << 16) | (digest[3]! << 24)
    const high = digest[4]! | (digest[5]! << 8) | (digest[6]! << 16) | (digest[7]! << 24)
    let h = Math.imul(low ^ (low >>> 16), 0x85ebca6b) ^ this.#seed
    h = Math.imul(h ^ high ^ (h >>> 13), 0xc2b2ae35)
    return (h ^ (h >>> 16)) >>> 0
  }

  #equals (place: number, digest: Uint8Array): boolean {
    const at = place * DIGEST_BYTES
    for (let i = 0; i < DIGEST_BYTES; i++) if (this.#digests[at + i] !== digest[i]) return false
    return true
  }

  #rehash (): void {
    this.#slots = new Int32Array(this.#slots.length * 2)
    const mask = this.#slots.length - 1
    for (let place = 0; place < this.#size; place++) {
      const digest = this.#digests.subarray(place * DIGEST_BYTES, (place + 1) * DIGEST_BYTES)
      let slot = this.#hash(digest) & mask
      while (this.#slots[slot] !== EMPTY) slot = (slot + 1) & mask
      this.#slots[slot] = place + 1
    }
  }
}
