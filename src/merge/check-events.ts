import { CorruptError, ForkError } from '../errors.ts'
import { openEvent } from '../event-format.ts'
import { eventId } from '../ids.ts'
import type { CID } from 'multiformats/cid'
import type { MergeSource } from './source.ts'
import type { StoredEvent } from '../types.ts'

/** What must be copied of one origin: seqs from..to, continuing a chain that ends at `prev`. */
export interface OriginRange {
  origin: string
  from: number
  to: number
  /** The id the source claims for seq `to`. */
  head: CID
  /** The destination's last event of this origin, which the first copied event must name. */
  prev: CID | null
  /** The clock of that event (0 when none). */
  prevClock: number
}

/**
 * Streams the events of every range in total order (clock, origin, seq), up to `pageSize` at a time,
 * checking each against its bytes, its place in its origin's chain and the source's claimed head. Events
 * an event names always carry a lower clock, so consumers see every referenced event before the events
 * that name it. Pages, not single events: each step of an async iteration costs a promise and a turn of
 * the event loop, which a merge of many small events would pay several times per event.
 */
export async function * checkedEvents (source: MergeSource, ranges: readonly OriginRange[], pageSize: number): AsyncGenerator<StoredEvent[]> {
  const cursors = await Promise.all(ranges.map(async (range) => await ChainCursor.start(source, range)))
  const live = cursors.filter((cursor) => cursor.current !== undefined)
  let page: StoredEvent[] = []
  while (live.length > 0) {
    let best = 0
    for (let i = 1; i < live.length; i++) if (before(live[i]!.current!, live[best]!.current!)) best = i
    const cursor = live[best]!
    page.push(cursor.current!)
    if (page.length >= pageSize) {
      yield page
      page = []
    }
    const reading = cursor.advance()
    if (reading !== undefined) await reading
    if (cursor.current === undefined) live.splice(best, 1)
  }
  if (page.length > 0) yield page
}

function before (a: StoredEvent, b: StoredEvent): boolean {
  if (a.event.clock !== b.event.clock) return a.event.clock < b.event.clock
  return a.event.origin < b.event.origin
}

/** Walks one origin's range in the source, holding the next checked event. */
class ChainCursor {
  current: StoredEvent | undefined
  readonly #source: MergeSource
  readonly #range: OriginRange
  readonly #pages: AsyncIterator<readonly Uint8Array[]>
  // The page of raw events being walked, and the place of the next one in it.
  #page: readonly Uint8Array[] = []
  #next = 0
  #seq: number
  #prev: CID | null
  #prevClock: number

  private constructor (source: MergeSource, range: OriginRange) {
    this.#source = source
    this.#range = range
    this.#pages = source.events(range.origin, range.from, range.to)[Symbol.asyncIterator]()
    this.#seq = range.from
    this.#prev = range.prev
    this.#prevClock = range.prevClock
  }

  static async start (source: MergeSource, range: OriginRange): Promise<ChainCursor> {
    const cursor = new ChainCursor(source, range)
    await cursor.advance()
    return cursor
  }

  /** Moves to the next checked event (undefined at the end); a promise only when a page must be read first or a broken link explained. */
  advance (): Promise<void> | undefined {
    if (this.#next < this.#page.length) return this.#take(this.#page[this.#next++]!)
    return this.#readPage()
  }

  async #readPage (): Promise<void> {
    const { origin, to } = this.#range
    do {
      const next = await this.#pages.next()
      if (next.done === true) {
        if (this.#seq <= to) throw new CorruptError(`Cannot merge from ${this.#source.name}: origin ${origin} ends at seq ${this.#seq - 1}, but its head says ${to}`)
        if (this.#prev === null || !this.#prev.equals(this.#range.head)) throw new CorruptError(`Cannot merge from ${this.#source.name}: origin ${origin} head ${this.#range.head.toString()} is not the id of its event ${to}`)
        this.current = undefined
        return
      }
      this.#page = next.value
      this.#next = 0
    } while (this.#page.length === 0)
    await this.#take(this.#page[this.#next++]!)
  }

  /** Checks one event and makes it the current one; a promise (which rejects) only when its link is broken and the source must say whether it forks. */
  #take (bytes: Uint8Array): Promise<never> | undefined {
    const { origin } = this.#range
    const where = `${origin}:${this.#seq} in ${this.#source.name}`
    const stored = openEvent(bytes, where)
    const { event } = stored
    if (event.origin !== origin || event.seq !== this.#seq) throw new CorruptError(`Cannot merge event ${where}: it says it is ${event.origin}:${event.seq}`)
    const linked = this.#prev === null ? event.prev === null : event.prev !== null && event.prev.equals(this.#prev)
    if (!linked) return this.#explainBrokenLink(where)
    if (event.clock <= this.#prevClock) throw new CorruptError(`Cannot merge event ${where}: its clock ${event.clock} does not exceed the clock of the event before it`)
    this.#prev = stored.id
    this.#prevClock = event.clock
    this.#seq++
    this.current = stored
    return undefined
  }

  /** A first event that does not continue the destination's chain is a fork if the source's own chain differs there; otherwise the link is corrupt. */
  async #explainBrokenLink (where: string): Promise<never> {
    const { origin, from } = this.#range
    if (this.#seq === from && from > 1 && this.#range.prev !== null) {
      const theirs = await this.#source.eventAt(origin, from - 1)
      if (theirs !== undefined && !eventId(theirs).equals(this.#range.prev)) {
        throw new ForkError(`Cannot merge from ${this.#source.name}: origin ${origin} forks at seq ${from - 1}: the stores hold different events there`,
          { details: { origin, seq: from - 1 } })
      }
    }
    throw new CorruptError(`Cannot merge event ${where}: its prev link does not name the event before it`)
  }
}
