import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HeldEvents } from '../src/merge/held-events.ts'
import { openPage } from '../src/merge/opened-page.ts'
import { CID } from 'multiformats/cid'
import { blobIdOf } from './_helpers/cli.ts'
import { sealChain } from './_helpers/store.ts'
import type { StoredEvent } from '../src/index.ts'
import type { CheckedEvent } from '../src/merge/opened-page.ts'

const ORIGIN = 'ab'.repeat(16)
const TARGET = CID.parse(blobIdOf('a state'))

/** A chain of tag.set events, some with names long enough to span several of HeldEvents' 1 MiB pages. */
function chain (count: number, longEvery = 0): StoredEvent[] {
  return sealChain(ORIGIN, Array.from({ length: count }, (_, i) => ({
    clock: i + 1,
    draft: { type: 'tag.set', body: { name: longEvery > 0 && i % longEvery === 0 ? `t${i}-${'x'.repeat(700 * 1024)}` : `t${i}`, target: TARGET } }
  })))
}

/** The events opened as a merge opens them, `perPage` to a page. */
function opened (events: readonly StoredEvent[], perPage: number): CheckedEvent[] {
  const checked: CheckedEvent[] = []
  for (let first = 0; first < events.length; first += perPage) {
    const slice = events.slice(first, first + perPage)
    const memory = new Uint8Array(Buffer.concat(slice.map(({ bytes }) => bytes)))
    let end = 0
    const ends = new Uint32Array(slice.map(({ bytes }) => (end += bytes.length)))
    const page = openPage({ memory, ends, origin: ORIGIN, firstSeq: first + 1, sourceName: 'test' })
    assert.is(page.failure, undefined)
    for (let index = 0; index < page.count; index++) checked.push({ page, index })
  }
  return checked
}

const Held = suite('events held between the checking and the writing pass of a merge')

Held('held events come back in order, in pages of the size asked, with the same ids, bytes and decoded events', () => {
  const events = chain(3000, 1000)
  const held = new HeldEvents(64 * 1024 * 1024)
  for (const checked of opened(events, 1000)) assert.ok(held.hold(checked))
  const pages = [...held.pages(999)]
  assert.equal(pages.map((page) => page.length), [999, 999, 999, 3])
  const back = pages.flat()
  assert.is(back.length, events.length)
  back.forEach((stored, i) => {
    assert.ok(stored.id.equals(events[i]!.id), `id of event ${i}`)
    assert.ok(Buffer.from(stored.bytes).equals(Buffer.from(events[i]!.bytes)), `bytes of event ${i}`)
    assert.equal(stored.event, events[i]!.event, `event ${i}`)
  })
})

Held('holding stops at the first page that would pass the budget, and nothing is held after it', () => {
  // Twelve events of 700 KiB, two to a page: three pages (4.1 MiB) fit in 5 MiB, four do not.
  const events = chain(12, 1)
  const held = new HeldEvents(5 * 1024 * 1024)
  const taken = opened(events, 2).map((checked) => held.hold(checked))
  assert.equal(taken, [true, true, true, true, true, true, false, false, false, false, false, false])
})

Held.run()
