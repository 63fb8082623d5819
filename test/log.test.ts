import * as assert from 'uvu/assert'
import { recordAdd, recordAdds } from '../src/add.ts'
import { addBlob, appendEvents, codec, iterateLog, iterateOrigin, listBlobs, listHeads, listTags, putBlob, readEventAt, readEventById, reindex, sealEvent, storeStats, verifyStore } from '../src/index.ts'
import { eventKey } from '../src/keys.ts'
import { EVENTS_PER_BATCH, EventCommitter } from '../src/log.ts'
import { exclusive } from '../src/store.ts'
import { RAW, cidFromHex, digestHex } from '../src/ids.ts'
import { bytes, collect, commitForeign, countEvents, dumpDerived, expectCode, rawSublevel, sealChain, storeSuite, tempStore } from './_helpers/store.ts'
import type { CID } from 'multiformats/cid'
import type { AddOptions, AddResult } from '../src/add.ts'
import type { DraftSource, EventDraft, Store, StoredEvent } from '../src/index.ts'

const ids = (events: readonly StoredEvent[]): string[] => events.map((e) => e.id.toString())

async function heads (store: Store): Promise<Array<[string, number, string]>> {
  return (await listHeads(store)).map((h) => [h.origin, h.seq, h.head.toString()])
}

async function blobIds (store: Store, count: number): Promise<CID[]> {
  const out: CID[] = []
  for (let i = 0; i < count; i++) out.push((await putBlob(store, bytes(`blob ${i}`))).id)
  return out
}

/** Makes every batch write of the store wait 50 ms before it starts; returns what undoes it. */
function delayWrites (store: Store): () => void {
  const db = store.db
  const batch = db.batch.bind(db)
  db.batch = (() => {
    const chained = batch()
    const write = chained.write.bind(chained)
    chained.write = (async (options: Parameters<typeof write>[0]) => {
      await new Promise((resolve) => setTimeout(resolve, 50))
      await write(options)
    }) as typeof chained.write
    return chained
  }) as typeof db.batch
  return () => { db.batch = batch }
}

// ---------------------------------------------------------------- append

const Append = storeSuite('log append')

Append('appendEvents assigns seq 1, 2, 3 with prev links and increasing clocks', async ({ t }) => {
  const [a, b, c] = await blobIds(t.store, 3)
  const first = await appendEvents(t.store, [
    { type: 'blob.add', body: { blob: a!, kind: 'snapshot', size: 6 } },
    { type: 'blob.add', body: { blob: b!, kind: 'config', size: 6 } }
  ])
  const second = await appendEvents(t.store, [{ type: 'tag.set', body: { name: 'best', target: c! } }])
  const events = [...first, ...second]

  assert.equal(events.map((e) => e.event.seq), [1, 2, 3])
  assert.equal(events.map((e) => e.event.prev?.toString() ?? null), [null, events[0]!.id.toString(), events[1]!.id.toString()])
  const clocks = events.map((e) => e.event.clock)
  assert.ok(clocks[0]! >= 1 && clocks[0]! < clocks[1]! && clocks[1]! < clocks[2]!, `clocks increase: ${clocks.join(', ')}`)
  for (const e of events) {
    assert.is(e.event.origin, t.store.origin)
    assert.is(e.event.host, t.store.host)
  }
  assert.equal(await heads(t.store), [[t.store.origin, 3, events[2]!.id.toString()]])
  assert.is(t.store.clock, clocks[2])
})

Append('appended events are stored as their sealed bytes under their ids', async ({ t }) => {
  const [a] = await blobIds(t.store, 1)
  const [stored] = await appendEvents(t.store, [{ type: 'blob.add', body: { blob: a!, kind: 'blob', size: 6 } }])
  const at = await readEventAt(t.store, t.store.origin, 1)
  const byId = await readEventById(t.store, stored!.id)
  assert.is(Buffer.from(at!.bytes).toString('hex'), Buffer.from(stored!.bytes).toString('hex'))
  assert.is(byId!.id.toString(), stored!.id.toString())
  assert.is(sealEvent(stored!.event).id.toString(), stored!.id.toString())
})

Append('an event naming a missing blob is refused with E_NOT_FOUND and nothing is written', async ({ t }) => {
  const [a, b] = await blobIds(t.store, 2)
  await appendEvents(t.store, [{ type: 'blob.add', body: { blob: a!, kind: 'snapshot', size: 6 } }])
  const headsBefore = await heads(t.store)
  const clockBefore = t.store.clock
  const missing = cidFromHex(RAW, 'ab'.repeat(32))

  const err = await expectCode(appendEvents(t.store, [
    { type: 'blob.add', body: { blob: b!, kind: 'snapshot', size: 6 } },
    { type: 'blob.add', body: { blob: missing, kind: 'snapshot', size: 1 } }
  ]), 'E_NOT_FOUND')
  assert.match(err.message, missing.toString())

  assert.equal(await heads(t.store), headsBefore)
  assert.is(t.store.clock, clockBefore)
  assert.is(await countEvents(t.store), 1)
  assert.is(await readEventAt(t.store, t.store.origin, 2), undefined)
  const [next] = await appendEvents(t.store, [{ type: 'blob.add', body: { blob: b!, kind: 'snapshot', size: 6 } }])
  assert.is(next!.event.seq, 2, 'the refused batch left no gap')
})

Append('a tag naming an id the store lacks is refused with E_NOT_FOUND', async ({ t }) => {
  const missing = cidFromHex(0x71, 'cd'.repeat(32))
  await expectCode(appendEvents(t.store, [{ type: 'tag.set', body: { name: 'x', target: missing } }]), 'E_NOT_FOUND')
  assert.is(await countEvents(t.store), 0)
  assert.equal(await heads(t.store), [])
})

Append('adding the same bytes twice records one blob.add', async ({ t }) => {
  const first = await addBlob(t.store, 'snapshot', bytes('state'))
  const second = await addBlob(t.store, 'snapshot', bytes('state'))
  assert.is(second.id.toString(), first.id.toString())
  assert.is(first.events.length, 1)
  assert.is(second.events.length, 0)
  assert.is(await countEvents(t.store, 'blob.add'), 1)
})

Append('recording several stored blobs at once records what recording them one by one records', async ({ t }) => {
  const other = await tempStore()
  try {
    // The same blob again, as another kind, with a new name, with a name only if new, with metadata, then again.
    const steps: Array<{ content: string, options: AddOptions }> = [
      { content: 'a', options: { nameIfNew: 'a.bin' } },
      { content: 'a', options: { nameIfNew: 'other.bin' } },
      { content: 'b', options: {} },
      { content: 'a', options: { name: 'renamed' } },
      { content: 'a', options: { meta: { step: '1' } } },
      { content: 'a', options: { meta: { step: '1' } } },
      // A name only if new is recorded only with a blob.add recorded anyway.
      { content: 'b', options: { nameIfNew: 'b.bin' } },
      { content: 'b', options: {} }
    ]
    const together = await recordAdds(t.store, 'snapshot', await Promise.all(steps.map(async ({ content, options }) => ({ put: await putBlob(t.store, bytes(content)), options }))), true)
    const alone: AddResult[] = []
    for (const { content, options } of steps) alone.push(await recordAdd(other.store, 'snapshot', await putBlob(other.store, bytes(content)), options))
    const bodies = (results: AddResult[]): unknown[] => results.map((result) => result.events.map(({ event }) => event.body))
    assert.equal(bodies(together), bodies(alone))
    assert.equal(together.map((result) => result.events.length), [1, 0, 1, 1, 1, 0, 0, 0])
  } finally {
    await other.dispose()
  }
})

Append('addBlob calls at the same time record each blob once, however many give the same bytes', async ({ t }) => {
  const contents = ['state a', 'state b', 'state a', 'state a', 'state c', 'state b']
  const added = await Promise.all(contents.map(async (content) => await addBlob(t.store, 'snapshot', bytes(content))))
  assert.is(await countEvents(t.store, 'blob.add'), 3)
  for (const content of new Set(contents)) {
    const recorded = added.filter((result, i) => contents[i] === content && result.events.length > 0)
    assert.is(recorded.length, 1, `one call records "${content}"`)
  }
  assert.equal((await verifyStore(t.store)).problems, [])
})

Append('adding the same bytes as another kind records a second blob.add', async ({ t }) => {
  await addBlob(t.store, 'snapshot', bytes('state'))
  const again = await addBlob(t.store, 'config', bytes('state'))
  assert.equal(again.events.map((e) => e.event.type), ['blob.add'])
  assert.is(await countEvents(t.store, 'blob.add'), 2)
})

Append('adding the same bytes with the same meta twice records one blob.add', async ({ t }) => {
  // Keys given out of dag-cbor order (same length, "b" before "a"): the store keeps them sorted.
  await addBlob(t.store, 'snapshot', bytes('state'), { meta: { b: '1', a: '2' } })
  const again = await addBlob(t.store, 'snapshot', bytes('state'), { meta: { b: '1', a: '2' } })
  assert.is(again.events.length, 0, 'nothing new: same bytes, kind and meta')
  assert.is(await countEvents(t.store, 'blob.add'), 1)
})

Append('addBlob with a tag option records blob.add then tag.set pointing at the blob', async ({ t }) => {
  const added = await addBlob(t.store, 'snapshot', bytes('state'), { tag: 'start' })
  assert.equal(added.events.map((e) => e.event.type), ['blob.add', 'tag.set'])
  const body = added.events[1]!.event.body as { name: string, target: CID }
  assert.equal([body.name, body.target.toString()], ['start', added.id.toString()])
  const tags = await collect(listTags(t.store))
  assert.equal(tags.map((tag) => [tag.name, tag.target.toString()]), [['start', added.id.toString()]])

  const again = await addBlob(t.store, 'snapshot', bytes('state'), { tag: 'start' })
  assert.is(again.events.length, 0, 'the tag already points there')
})

Append('listTags gives 10,000 tags in order of first appearance, each where its latest tag.set points, across its pages', async ({ t }) => {
  const [a, b] = [(await putBlob(t.store, bytes('a'))).id, (await putBlob(t.store, bytes('b'))).id]
  await appendEvents(t.store, Array.from({ length: 10_000 }, (_, i) => ({ type: 'tag.set' as const, body: { name: `tag-${String(i).padStart(5, '0')}`, target: a } })))
  // Set again in reverse: each points at b now, and the listing keeps the order they first appeared in.
  await appendEvents(t.store, Array.from({ length: 10_000 }, (_, i) => ({ type: 'tag.set' as const, body: { name: `tag-${String(9_999 - i).padStart(5, '0')}`, target: b } })))
  const tags = await collect(listTags(t.store))
  assert.equal(tags.map((tag) => tag.name), Array.from({ length: 10_000 }, (_, i) => `tag-${String(i).padStart(5, '0')}`))
  assert.ok(tags.every((tag) => tag.target.equals(b)), 'each tag points where its latest tag.set says')
})

Append('addBlob with an empty tag fails with E_BAD_INPUT and stores nothing', async ({ t }) => {
  await expectCode(addBlob(t.store, 'snapshot', bytes('state'), { tag: '' }), 'E_BAD_INPUT')
  assert.is((await storeStats(t.store)).blobs, 0)
  assert.is(await countEvents(t.store), 0)
})

Append('events survive close and reopen, and the chain continues after', async ({ t }) => {
  const [a, b, c, d] = await blobIds(t.store, 4)
  const before = await appendEvents(t.store, [a!, b!, c!].map((blob) => ({ type: 'blob.add' as const, body: { blob, kind: 'blob' as const, size: 6 } })))
  const clock = t.store.clock
  const store = await t.reopen()

  const after = await collect(iterateLog(store))
  assert.equal(ids(after), ids(before))
  assert.equal(after.map((e) => Buffer.from(e.bytes).toString('hex')), before.map((e) => Buffer.from(e.bytes).toString('hex')))
  assert.is(store.clock, clock)
  const [next] = await appendEvents(store, [{ type: 'blob.add', body: { blob: d!, kind: 'blob', size: 6 } }])
  assert.is(next!.event.seq, 4)
  assert.is(next!.event.prev!.toString(), before[2]!.id.toString())
  assert.ok(next!.event.clock > clock)
})

Append('a blob.add that misstates its blob\'s size is refused with E_BAD_INPUT and nothing is written', async ({ t }) => {
  const { id } = await putBlob(t.store, bytes('eleven byte'))
  await expectCode(appendEvents(t.store, [{ type: 'blob.add', body: { blob: id, kind: 'snapshot', size: 12 } }]), 'E_BAD_INPUT')
  assert.equal(await listHeads(t.store), [])
})

Append('a batch committed while the one before it is still being written is projected over that batch', async ({ t }) => {
  const [a, b] = await blobIds(t.store, 2)
  const foreign = sealChain('f'.repeat(32), [
    { clock: 1, draft: { type: 'tag.set', body: { name: 'x', target: a! } } },
    { clock: 2, draft: { type: 'blob.add', body: { blob: a!, kind: 'snapshot', size: 6, name: 'first' } } },
    { clock: 3, draft: { type: 'tag.set', body: { name: 'x', target: b! } } },
    { clock: 4, draft: { type: 'blob.add', body: { blob: a!, kind: 'snapshot', size: 6, name: 'second' } } }
  ])
  // The second batch is always prepared while the first is unwritten: read from the database, tag x and
  // blob a would look new to it.
  const restore = delayWrites(t.store)
  await exclusive(t.store, async () => {
    const committer = new EventCommitter(t.store)
    await committer.commit(foreign.slice(0, 2), false)
    await committer.commit(foreign.slice(2), true)
    await committer.settled()
  })
  restore()
  assert.equal((await collect(listTags(t.store))).map((tag) => [tag.name, tag.target.toString()]), [['x', b!.toString()]])
  assert.equal((await verifyStore(t.store)).problems, [])
})

Append('an append of more events than one write batch holds is projected as if written at once', async ({ t }) => {
  const targets = await blobIds(t.store, 3)
  const count = EVENTS_PER_BATCH * 2 + 7
  // Tags t0…t9 are set again and again, and blob 0 is renamed, across every batch boundary; each batch is
  // prepared while the one before it is still unwritten.
  const restore = delayWrites(t.store)
  const events = await appendEvents(t.store, Array.from({ length: count }, (_, i) => i % 2 === 0
    ? { type: 'tag.set' as const, body: { name: `t${i % 10}`, target: targets[i % 3]! } }
    : { type: 'blob.add' as const, body: { blob: targets[0]!, kind: 'snapshot' as const, size: 6, name: `name ${i}` } }))
  restore()
  assert.is(events.length, count)
  assert.equal(await heads(t.store), [[t.store.origin, count, events.at(-1)!.id.toString()]])
  const lastTarget = (tag: number): string => targets[Math.max(...Array.from({ length: count }, (_, i) => i).filter((i) => i % 10 === tag)) % 3]!.toString()
  assert.equal((await collect(listTags(t.store))).map((tag) => [tag.name, tag.target.toString()]),
    [0, 2, 4, 6, 8].map((tag) => [`t${tag}`, lastTarget(tag)]))
  const [snapshot] = await collect(listBlobs(t.store, 'snapshot'))
  assert.is(snapshot?.name, `name ${count - 2}`)
  const projected = await dumpDerived(t.store)
  await reindex(t.store)
  assert.equal(await dumpDerived(t.store), projected)
  assert.equal((await verifyStore(t.store)).problems, [])
})

Append('a tag first set late in one write batch and again in the next is projected as one tag', async ({ t }) => {
  const [target] = await blobIds(t.store, 1)
  const half = EVENTS_PER_BATCH / 2
  // Tag k is set from the middle of batch k - 1 to the middle of batch k: the next batch reads what this one wrote.
  const restore = delayWrites(t.store)
  await appendEvents(t.store, Array.from({ length: EVENTS_PER_BATCH * 3 }, (_, i) => ({ type: 'tag.set' as const, body: { name: `n${Math.floor((i + half) / EVENTS_PER_BATCH)}`, target: target! } })))
  restore()
  assert.equal((await collect(listTags(t.store))).map((tag) => tag.name), ['n0', 'n1', 'n2', 'n3'])
  const projected = await dumpDerived(t.store)
  await reindex(t.store)
  assert.equal(await dumpDerived(t.store), projected)
})

Append('an append of many write batches whose last event names a missing blob writes nothing, however long the check takes', async ({ t }) => {
  const [a] = await blobIds(t.store, 1)
  const missing = cidFromHex(RAW, 'ab'.repeat(32))
  const drafts = Array.from({ length: EVENTS_PER_BATCH * 3 }, (_, i) => ({ type: 'tag.set' as const, body: { name: `t${i}`, target: a! } }))
  drafts.push({ type: 'tag.set', body: { name: 'last', target: missing } })
  // Reading the referenced blobs takes 100 ms: long enough for the first batch to be prepared and written,
  // were its write not held until every reference is found.
  const blobRecords = t.store.sub.blob
  const getMany = blobRecords.getMany.bind(blobRecords)
  blobRecords.getMany = (async (keys: string[]) => {
    await new Promise((resolve) => setTimeout(resolve, 100))
    return await getMany(keys)
  }) as typeof blobRecords.getMany
  try {
    await expectCode(appendEvents(t.store, drafts), 'E_NOT_FOUND')
  } finally {
    blobRecords.getMany = getMany
  }
  assert.equal(await heads(t.store), [])
  assert.is(await countEvents(t.store), 0)
  assert.equal(await collect(listTags(t.store)), [])
})

Append('an event may name an event of an earlier write batch of the same call', async ({ t }) => {
  const [a] = await blobIds(t.store, 1)
  const drafts: DraftSource[] = Array.from({ length: EVENTS_PER_BATCH * 2 }, (_, i) => ({ type: 'tag.set' as const, body: { name: `t${i}`, target: a! } }))
  // Its event is sealed in the third batch's slice; the event it names, in the first.
  drafts.push((earlier) => ({ type: 'tag.set', body: { name: 'first', target: earlier[0]!.id } }))
  const events = await appendEvents(t.store, drafts)
  const [first] = (await collect(listTags(t.store))).filter((tag) => tag.name === 'first')
  assert.is(first?.target.toString(), events[0]!.id.toString())
  assert.equal((await verifyStore(t.store)).problems, [])
})

Append('of two missing references in different write batches of one call, the earlier is reported', async ({ t }) => {
  const [a] = await blobIds(t.store, 1)
  const early = cidFromHex(RAW, 'ab'.repeat(32))
  const late = cidFromHex(RAW, 'cd'.repeat(32))
  const drafts: EventDraft[] = Array.from({ length: EVENTS_PER_BATCH * 3 }, (_, i) => ({ type: 'tag.set' as const, body: { name: `t${i}`, target: a! } }))
  drafts[10] = { type: 'tag.set', body: { name: 'early', target: early } }
  drafts.push({ type: 'tag.set', body: { name: 'late', target: late } })
  // The later batch's reads answer first: the error must still be the earlier event's.
  const blobRecords = t.store.sub.blob
  const hasMany = blobRecords.hasMany.bind(blobRecords)
  blobRecords.hasMany = (async (keys: string[]) => {
    if (keys.includes(digestHex(early))) await new Promise((resolve) => setTimeout(resolve, 100))
    return await hasMany(keys)
  }) as typeof blobRecords.hasMany
  try {
    const err = await expectCode(appendEvents(t.store, drafts), 'E_NOT_FOUND')
    assert.match(err.message, early.toString())
  } finally {
    blobRecords.hasMany = hasMany
  }
  assert.is(await countEvents(t.store), 0)
})

Append('when a batch fails to be written, the next commit fails and writes nothing', async ({ t }) => {
  const [a] = await blobIds(t.store, 1)
  const foreign = sealChain('f'.repeat(32), [
    { clock: 1, draft: { type: 'tag.set', body: { name: 'x', target: a! } } },
    { clock: 2, draft: { type: 'tag.set', body: { name: 'y', target: a! } } }
  ])
  const db = t.store.db
  const batch = db.batch.bind(db)
  let writes = 0
  db.batch = (() => {
    const chained = batch()
    const write = chained.write.bind(chained)
    chained.write = (async (options: Parameters<typeof write>[0]) => {
      if (writes++ === 0) throw new Error('disk full')
      await write(options)
    }) as typeof chained.write
    return chained
  }) as typeof db.batch
  try {
    await exclusive(t.store, async () => {
      const committer = new EventCommitter(t.store)
      await committer.commit(foreign.slice(0, 1), false)
      const failure = async (work: Promise<void>): Promise<string> => await work.then(() => 'resolved', (err: unknown) => String(err))
      assert.match(await failure(committer.commit(foreign.slice(1), true)), /disk full/)
      assert.match(await failure(committer.settled()), /disk full/)
    })
  } finally {
    db.batch = batch
  }
  assert.is(writes, 1)
  assert.equal(await heads(t.store), [])
  assert.equal(await collect(listTags(t.store)), [])
})

Append.run()

// ---------------------------------------------------------------- order and filters

const FOREIGN = '0'.repeat(32)

interface Fixture { all: StoredEvent[], local: StoredEvent[], foreign: StoredEvent[] }

/**
 * Local A (clock 1), foreign F1 (clock 1, time 1000) and F2 (clock 3, time 2000), local B and C after them.
 * The foreign origin is all zeros, so at equal clocks it sorts first: the total order is F1, A, F2, B, C.
 */
async function interleaved (store: Store): Promise<Fixture> {
  const [x, y, z] = await blobIds(store, 3)
  const [a] = await appendEvents(store, [{ type: 'blob.add', body: { blob: x!, kind: 'snapshot', size: 6 } }])
  const foreign = sealChain(FOREIGN, [
    { clock: 1, time: 1000, draft: { type: 'blob.add', body: { blob: y!, kind: 'config', size: 6 } } },
    { clock: 3, time: 2000, draft: { type: 'tag.set', body: { name: 'theirs', target: y! } } }
  ])
  await commitForeign(store, foreign)
  const [b, c] = await appendEvents(store, [
    { type: 'blob.add', body: { blob: z!, kind: 'snapshot', size: 6 } },
    { type: 'tag.set', body: { name: 'ours', target: z! } }
  ])
  const [f1, f2] = foreign
  return { all: [f1!, a!, f2!, b!, c!], local: [a!, b!, c!], foreign }
}

const Order = storeSuite('log order and filters')

Order('a local event after foreign ones gets a clock above every clock seen', async ({ t }) => {
  const { local } = await interleaved(t.store)
  assert.equal(local.map((e) => e.event.clock), [1, 4, 5])
})

Order('iterateLog yields every event in (clock, origin, seq) order', async ({ t }) => {
  const { all } = await interleaved(t.store)
  assert.equal(ids(await collect(iterateLog(t.store))), ids(all))
})

Order('the origin filter keeps the events of one origin, in order', async ({ t }) => {
  const { local, foreign } = await interleaved(t.store)
  assert.equal(ids(await collect(iterateLog(t.store, { origin: FOREIGN }))), ids(foreign))
  assert.equal(ids(await collect(iterateLog(t.store, { origin: t.store.origin }))), ids(local))
  assert.equal(await collect(iterateLog(t.store, { origin: 'f'.repeat(32) })), [])
})

Order('the type filter keeps the events of one type, in order', async ({ t }) => {
  const { all } = await interleaved(t.store)
  const tags = all.filter((e) => e.event.type === 'tag.set')
  assert.is(tags.length, 2)
  assert.equal(ids(await collect(iterateLog(t.store, { type: 'tag.set' }))), ids(tags))
})

Order('the since filter keeps events at or after a time', async ({ t }) => {
  const { all } = await interleaved(t.store)
  assert.equal(ids(await collect(iterateLog(t.store, { since: 2000 }))), ids(all.filter((e) => e.event.time >= 2000)))
  assert.is((await collect(iterateLog(t.store, { since: 2000 }))).length, 4, 'only the event of time 1000 is left out')
  assert.is((await collect(iterateLog(t.store, { since: 1001 }))).length, 4)
  assert.is((await collect(iterateLog(t.store, { since: 1000 }))).length, 5)
})

Order('the limit keeps the first events in order, after the other filters', async ({ t }) => {
  const { all } = await interleaved(t.store)
  assert.equal(ids(await collect(iterateLog(t.store, { limit: 2 }))), ids(all.slice(0, 2)))
  assert.equal(await collect(iterateLog(t.store, { limit: 0 })), [])
  assert.equal(ids(await collect(iterateLog(t.store, { limit: 99 }))), ids(all))
  const adds = all.filter((e) => e.event.type === 'blob.add')
  assert.equal(ids(await collect(iterateLog(t.store, { type: 'blob.add', limit: 2 }))), ids(adds.slice(0, 2)))
})

Order('a negative or fractional limit fails with E_BAD_INPUT', async ({ t }) => {
  await interleaved(t.store)
  await expectCode(collect(iterateLog(t.store, { limit: -1 })), 'E_BAD_INPUT')
  await expectCode(collect(iterateLog(t.store, { limit: 1.5 })), 'E_BAD_INPUT')
})

Order('iterateOrigin yields one origin in seq order from a given seq', async ({ t }) => {
  const { local, foreign } = await interleaved(t.store)
  assert.equal(ids(await collect(iterateOrigin(t.store, t.store.origin))), ids(local))
  assert.equal(ids(await collect(iterateOrigin(t.store, t.store.origin, 2))), ids(local.slice(1)))
  assert.equal(ids(await collect(iterateOrigin(t.store, FOREIGN))), ids(foreign))
})

Order('listHeads names each origin with its highest seq and head id', async ({ t }) => {
  const { local, foreign } = await interleaved(t.store)
  assert.equal((await heads(t.store)).sort(), [[FOREIGN, 2, foreign[1]!.id.toString()], [t.store.origin, 3, local[2]!.id.toString()]].sort())
})

Order.run()

// ---------------------------------------------------------------- damage

const Damage = storeSuite('log damage')

async function threeEvents (store: Store): Promise<StoredEvent[]> {
  const blobs = await blobIds(store, 3)
  return await appendEvents(store, blobs.map((blob) => ({ type: 'blob.add' as const, body: { blob, kind: 'blob' as const, size: 6 } })))
}

Damage('malformed CBOR in the event sublevel makes iterateLog fail with E_CORRUPT and verifyStore report it', async ({ t }) => {
  await threeEvents(t.store)
  const origin = t.store.origin
  const store = await t.editRaw(async (db) => { await rawSublevel(db, 'event').put(eventKey(origin, 2), Uint8Array.from([0xa2, 0x61, 0x76])) })

  const err = await expectCode(collect(iterateLog(store)), 'E_CORRUPT')
  assert.match(err.message, `${origin}:2`)
  await expectCode(readEventAt(store, origin, 2), 'E_CORRUPT')
  const report = await verifyStore(store)
  assert.is(report.ok, false)
  assert.ok(report.problems.some((p) => p.startsWith(`event ${origin}:2:`)), report.problems.join('\n'))
})

Damage('an event rewritten with other valid content is caught by readEventById and verifyStore', async ({ t }) => {
  const events = await threeEvents(t.store)
  const origin = t.store.origin
  const forged = sealEvent({ ...events[1]!.event, host: 'forger' })
  const store = await t.editRaw(async (db) => { await rawSublevel(db, 'event').put(eventKey(origin, 2), forged.bytes) })

  await expectCode(readEventById(store, events[1]!.id), 'E_CORRUPT')
  const report = await verifyStore(store)
  assert.is(report.ok, false)
  assert.ok(report.problems.some((p) => p.includes(`event ${origin}:3: prev does not name event ${origin}:2`)), report.problems.join('\n'))
})

Damage('an event stored under another seq is reported by verifyStore', async ({ t }) => {
  const events = await threeEvents(t.store)
  const origin = t.store.origin
  const store = await t.editRaw(async (db) => { await rawSublevel(db, 'event').put(eventKey(origin, 3), events[0]!.bytes) })
  const report = await verifyStore(store)
  assert.is(report.ok, false)
  assert.ok(report.problems.some((p) => p.includes('stored under the wrong key')), report.problems.join('\n'))
})

Damage('a blob record whose size disagrees with the blob.add naming it is reported by verifyStore, sampled or not', async ({ t }) => {
  const events = await threeEvents(t.store)
  const origin = t.store.origin
  const blob = (events[1]!.event.body as { blob: CID }).blob
  const store = await t.editRaw(async (db) => {
    const records = rawSublevel(db, 'blob')
    const record = codec.decode<{ size: number, chunks: unknown }>((await records.get(digestHex(blob)))!)
    await records.put(digestHex(blob), codec.encode({ ...record, size: 7 }))
  })
  for (const options of [{}, { sample: 100 }]) {
    const report = await verifyStore(store, options)
    assert.ok(report.problems.includes(`event ${origin}:2: says blob ${blob.toString()} has 6 bytes; it has 7`), report.problems.join('\n'))
  }
})

Damage('a stored clock below the highest event clock is reported by verifyStore', async ({ t }) => {
  await threeEvents(t.store)
  const store = await t.editRaw(async (db) => { await rawSublevel(db, 'meta').put('clock', codec.encode(1)) })
  const report = await verifyStore(store)
  assert.is(report.ok, false)
  assert.ok(report.problems.some((p) => p.startsWith('clock 1 is below')), report.problems.join('\n'))
})

Damage.run()
