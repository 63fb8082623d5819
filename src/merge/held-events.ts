import { storedEventOf, transferablesOf } from './opened-page.ts'
import type { CheckedEvent, OpenedPage } from './opened-page.ts'
import type { StoredEvent } from '../types.ts'

/**
 * The events a merge has checked, held between its checking pass and its writing pass, up to a budget of
 * bytes: the opened pages they came in (their bytes and id digests, in a few typed arrays each) and each
 * event's place in them. Held this way they cost the garbage collector almost nothing, where the decoded
 * events would outlive the young generation one by one; the writing pass decodes each again (a few
 * microseconds), instead of reading and checking it again.
 */
export class HeldEvents {
  readonly #budget: number
  readonly #pages: OpenedPage[] = []
  readonly #pageNumbers = new Map<OpenedPage, number>()
  // Page number and index in it of each held event, in the order they were held.
  readonly #where: number[] = []
  #bytes = 0

  constructor (budget: number) {
    this.#budget = budget
  }

  /** Holds one more checked event; false (and nothing held from then on) once the budget would be passed. */
  hold ({ page, index }: CheckedEvent): boolean {
    let number = this.#pageNumbers.get(page)
    if (number === undefined) {
      this.#bytes += transferablesOf(page).reduce((sum, buffer) => sum + buffer.byteLength, 0)
      if (this.#bytes > this.#budget) return false
      number = this.#pages.push(page) - 1
      this.#pageNumbers.set(page, number)
    }
    this.#where.push(number, index)
    return true
  }

  /** The held events again, in the order they were held, decoded from their checked bytes, `pageSize` at a time. */
  * pages (pageSize: number): Generator<StoredEvent[]> {
    let page: StoredEvent[] = []
    for (let i = 0; i < this.#where.length; i += 2) {
      page.push(storedEventOf({ page: this.#pages[this.#where[i]!]!, index: this.#where[i + 1]! }))
      if (page.length >= pageSize) {
        yield page
        page = []
      }
    }
    if (page.length > 0) yield page
  }
}
