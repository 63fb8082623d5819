/** A buffer lent by a `SlabPool`: give it back with `release` once nothing reads it any more. */
export interface Slab {
  bytes: Buffer
  release: () => void
}

/**
 * Buffers of one size, lent and given back, so that reading chunk after chunk does not allocate a new
 * buffer each time: a buffer that outlives a young-generation collection is freed only by a full one, and
 * each such buffer brings the next full collection closer (a merge of a 1 GiB snapshot read into buffers
 * of their own ran about 30 of them). At most `keep` free buffers are kept; a buffer never given back is
 * simply collected.
 */
export class SlabPool {
  readonly size: number
  readonly #keep: number
  readonly #free: Buffer[] = []

  constructor (size: number, keep: number) {
    this.size = size
    this.#keep = keep
  }

  /** Lends a buffer of the pool's size; each `release` after the first does nothing. */
  take (): Slab {
    const bytes = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size)
    let lent = true
    return {
      bytes,
      release: () => {
        if (!lent) return
        lent = false
        if (this.#free.length < this.#keep) this.#free.push(bytes)
      }
    }
  }
}
