import { CorruptError, ForkError } from '../errors.ts'
import { DAG_CBOR, cidFromDigest, eventId } from '../ids.ts'
import { inlineOpener, threadOpener } from './event-opener.ts'
import type { CID } from 'multiformats/cid'
import type { EventOpener } from './event-opener.ts'
import type { CheckedEvent, OpenedPage, PageToOpen } from './opened-page.ts'
import type { MergeSource } from './source.ts'

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

// From this many incoming events on, they are opened (decoded, checked, hashed) on a thread of its own.
const OPEN_ON_THREAD_FROM = 10_000
// Pages of each origin read and being opened while one is walked: enough that neither thread waits for the other.
const OPENING_AHEAD = 4

/**
 * Streams the events of every range in total order (clock, origin, seq), up to `pageSize` at a time,
 * checking each against its bytes, its place in its origin's chain and the source's claimed head. Events
 * an event names always carry a lower clock, so consumers see every referenced event before the events
 * that name it. Pages, not single events: each step of an async iteration costs a promise and a turn of
 * the event loop, which a merge of many small events would pay several times per event. Many events are
 * opened on another thread, a few pages ahead of the one this thread orders and hands on.
 */
export async function * checkedEvents (source: MergeSource, ranges: readonly OriginRange[], pageSize: number): AsyncGenerator<CheckedEvent[]> {
  const incoming = ranges.reduce((sum, range) => sum + range.to - range.from + 1, 0)
  const opener = incoming >= OPEN_ON_THREAD_FROM ? threadOpener() : inlineOpener
  try {
    const cursors = await Promise.all(ranges.map(async (range) => await ChainCursor.start(source, range, opener)))
    const live = cursors.filter((cursor) => cursor.current !== undefined)
    let page: CheckedEvent[] = []
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
  } finally {
    await opener.close()
  }
}

function before (a: CheckedEvent, b: CheckedEvent): boolean {
  const clockA = a.page.clocks[a.index]!
  const clockB = b.page.clocks[b.index]!
  if (clockA !== clockB) return clockA < clockB
  return a.page.origin < b.page.origin
}

/** Walks one origin's range in the source, holding the next checked event and opening the page after its own. */
class ChainCursor {
  current: CheckedEvent | undefined
  readonly #source: MergeSource
  readonly #range: OriginRange
  readonly #opener: EventOpener
  readonly #pages: AsyncIterator<readonly Uint8Array[]>
  // The opened page being walked, the place of the next event in it, and the next pages, being opened.
  #page: OpenedPage | undefined
  #next = 0
  readonly #opening: Array<Promise<OpenedPage | undefined>> = []
  // The last read of the source: each read waits for the one before it.
  #reading: Promise<unknown> = Promise.resolve()
  // The seq of the first event of the next page read.
  #seq: number
  // The id digest and clock of the last event of the pages walked before this one.
  #prev: Uint8Array | undefined
  #prevClock: number

  private constructor (source: MergeSource, range: OriginRange, opener: EventOpener) {
    this.#source = source
    this.#range = range
    this.#opener = opener
    this.#pages = source.events(range.origin, range.from, range.to)[Symbol.asyncIterator]()
    this.#seq = range.from
    this.#prev = range.prev?.multihash.digest
    this.#prevClock = range.prevClock
  }

  static async start (source: MergeSource, range: OriginRange, opener: EventOpener): Promise<ChainCursor> {
    const cursor = new ChainCursor(source, range, opener)
    cursor.#openAhead()
    await cursor.advance()
    return cursor
  }

  /** Moves to the next checked event (undefined at the end); a promise only when a page must be opened first or a broken link explained. */
  advance (): Promise<void> | undefined {
    const page = this.#page
    if (page !== undefined) {
      if (this.#next < page.count) return this.#take(page, this.#next++)
      if (page.failure !== undefined) throw new CorruptError(page.failure)
    }
    return this.#nextPage()
  }

  /** Keeps `OPENING_AHEAD` pages read and being opened beyond the one walked; the source is read one page after another. */
  #openAhead (): void {
    while (this.#opening.length < OPENING_AHEAD) {
      const packed = this.#reading.then(async () => await this.#readPage())
      this.#reading = packed
      const opened = packed.then(async (page) => page === undefined ? undefined : await this.#opener.open(page))
      // Left unawaited when another origin fails first.
      opened.catch(() => undefined)
      this.#opening.push(opened)
    }
  }

  /** The next page of the source, packed; undefined at its end. */
  async #readPage (): Promise<PageToOpen | undefined> {
    for (;;) {
      const next = await this.#pages.next()
      if (next.done === true) return undefined
      if (next.value.length === 0) continue
      const page = pack(next.value, this.#range.origin, this.#seq, this.#source.name)
      this.#seq += next.value.length
      return page
    }
  }

  async #nextPage (): Promise<void> {
    const done = this.#page
    if (done !== undefined) {
      this.#prev = done.ids.subarray(32 * (done.count - 1), 32 * done.count)
      this.#prevClock = done.clocks[done.count - 1]!
    }
    const page = await this.#opening.shift()
    this.#openAhead()
    if (page === undefined) {
      const { origin, to } = this.#range
      if (this.#seq <= to) throw new CorruptError(`Cannot merge from ${this.#source.name}: origin ${origin} ends at seq ${this.#seq - 1}, but its head says ${to}`)
      if (this.#prev === undefined || !cidFromDigest(DAG_CBOR, this.#prev).equals(this.#range.head)) {
        throw new CorruptError(`Cannot merge from ${this.#source.name}: origin ${origin} head ${this.#range.head.toString()} is not the id of its event ${to}`)
      }
      this.current = undefined
      return
    }
    this.#page = page
    this.#next = 0
    if (page.count === 0) throw new CorruptError(page.failure!)
    await this.#take(page, this.#next++)
  }

  /**
   * Makes an opened event the current one. Its page checked it and its link to the event before it; the
   * first of a page is checked here against the page before. A promise (which rejects) only when that link
   * is broken and the source must say whether it forks.
   */
  #take (page: OpenedPage, index: number): Promise<never> | undefined {
    if (index === 0) {
      const where = `${page.origin}:${page.firstSeq} in ${this.#source.name}`
      const prev = page.firstPrev
      const linked = this.#prev === undefined ? prev === undefined : prev !== undefined && Buffer.compare(prev, this.#prev) === 0
      if (!linked) return this.#explainBrokenLink(where, page.firstSeq)
      const clock = page.clocks[0]!
      if (clock <= this.#prevClock) throw new CorruptError(`Cannot merge event ${where}: its clock ${clock} does not exceed the clock of the event before it`)
    }
    this.current = { page, index }
    return undefined
  }

  /** A first event that does not continue the destination's chain is a fork if the source's own chain differs there; otherwise the link is corrupt. */
  async #explainBrokenLink (where: string, seq: number): Promise<never> {
    const { origin, from } = this.#range
    if (seq === from && from > 1 && this.#range.prev !== null) {
      const theirs = await this.#source.eventAt(origin, from - 1)
      if (theirs !== undefined && !eventId(theirs).equals(this.#range.prev)) {
        throw new ForkError(`Cannot merge from ${this.#source.name}: origin ${origin} forks at seq ${from - 1}: the stores hold different events there`,
          { details: { origin, seq: from - 1 } })
      }
    }
    throw new CorruptError(`Cannot merge event ${where}: its prev link does not name the event before it`)
  }
}

/** One origin's raw events copied back to back into memory of their own, which can move to another thread. */
function pack (events: readonly Uint8Array[], origin: string, firstSeq: number, sourceName: string): PageToOpen {
  let length = 0
  for (const bytes of events) length += bytes.length
  const memory = Buffer.allocUnsafeSlow(length) as Uint8Array<ArrayBuffer>
  const ends = new Uint32Array(events.length)
  let at = 0
  events.forEach((bytes, i) => {
    memory.set(bytes, at)
    at += bytes.length
    ends[i] = at
  })
  return { memory, ends, origin, firstSeq, sourceName }
}
