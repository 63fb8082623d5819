import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HeldEvents } from '../src/merge/held-events.ts'
import { CID } from 'multiformats/cid'
import { blobIdOf } from './_helpers/cli.ts'
import { sealChain } from './_helpers/store.ts'
import type { StoredEvent } from '../src/index.ts'

const ORIGIN = 'ab'.repeat(16)
const TARGET = CID.parse(blobIdOf('a state'))

/** A chain of tag.set events, some with names long enough to span several of HeldEvents' 1 MiB pages. */
function chain (count: number, longEvery = 0): StoredEvent[] {
  return sealChain(ORIGIN, Array.from({ length: count }, (_, i) => ({
    clock: i + 1,
    draft: { type: 'tag.set', body: { name: longEvery > 0 && i % longEvery === 0 ? `t${i}-${'x'.repeat(700 * 1024)}` : `t${i}`, target: TARGET } }
  })))
}

const Held = suite('events held between the checking and the writing pass of a merge')

Held('held events come back in order, in pages of the size asked, with the same ids, bytes and decoded events', () => {
  const events = chain(3000, 1000)
  const held = new HeldEvents(64 * 1024 * 1024)
  for (const stored of events) assert.ok(held.hold(stored))
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

Held('holding stops at the budget, counting each event\'s bytes and id', () => {
  const events = chain(10)
  const each = events[5]!.bytes.length + 32
  const held = new HeldEvents(events.slice(0, 5).reduce((sum, { bytes }) => sum + bytes.length + 32, 0) + each - 1)
  const taken = events.map((stored) => held.hold(stored))
  assert.equal(taken, [true, true, true, true, true, false, false, false, false, false])
})

Held.run()
