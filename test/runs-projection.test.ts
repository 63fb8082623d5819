import fc from 'fast-check'
import * as assert from 'uvu/assert'
import { addBlob, appendEvents, digestHex, putBlob, reindex, sealEvent, verifyStore } from '../src/index.ts'
import { describeRun, listRuns } from '../src/runs/query.ts'
import { bytes, collect, commitForeign, dumpDerived, interleave, specSuite, storeSuite, tempStore } from './_helpers/store.ts'
import type { CID } from 'multiformats/cid'
import type { EventDraft, SnapEvent, Store, StoredEvent } from '../src/index.ts'

/** What a user can read of every run, with CIDs as strings. */
async function runsView (store: Store): Promise<unknown> {
  return JSON.parse(JSON.stringify(await collect(listRuns(store)), (_key, value: unknown) => (value !== null && typeof value === 'object' && 'multihash' in value ? String(value) : value)))
}

async function assertVerified (store: Store, when: string): Promise<void> {
  const report = await verifyStore(store)
  assert.ok(report.ok, `verifyStore ${when}: ${report.problems.join('; ')}`)
}

/** Reindexes and checks that every derived key and value is what the events built one by one. */
async function assertReindexIdentical (store: Store): Promise<void> {
  const incremental = await dumpDerived(store)
  await reindex(store)
  assert.equal(await dumpDerived(store), incremental, 'reindex rewrites the run projections byte for byte')
}

// ---------------------------------------------------------------- rules, on one store

const Rules = storeSuite('run projection rules')

Rules('describeRun() lists checkpoints by cycle whatever order they were recorded in, those without a cycle last', async ({ t }) => {
  const start = (await addBlob(t.store, 'snapshot', bytes('s0'))).id
  const snaps: CID[] = []
  for (const name of ['c3', 'c1', 'nocycle', 'c2']) snaps.push((await addBlob(t.store, 'snapshot', bytes(name))).id)
  const [run] = await appendEvents(t.store, [{ type: 'run.start', body: { from: start, params: { cycles: 3 }, seed: '1', key: 'a'.repeat(64) } }])
  const id = run!.id
  await appendEvents(t.store, [{ type: 'run.checkpoint', body: { run: id, snapshot: snaps[0]!, cycle: 3 } }])
  await appendEvents(t.store, [{ type: 'run.checkpoint', body: { run: id, snapshot: snaps[1]!, cycle: 1 } }])
  await appendEvents(t.store, [{ type: 'run.checkpoint', body: { run: id, snapshot: snaps[2]! } }])
  await appendEvents(t.store, [{ type: 'run.checkpoint', body: { run: id, snapshot: snaps[3]!, cycle: 2 } }])
  await appendEvents(t.store, [{ type: 'run.end', body: { run: id, snapshot: snaps[0]!, cycle: 3 } }])
  const info = await describeRun(t.store, id)
  assert.equal(info?.checkpoints.map((c) => [c.cycle, c.snapshot.toString()]), [
    [1, snaps[1]!.toString()], [2, snaps[3]!.toString()], [3, snaps[0]!.toString()], [undefined, snaps[2]!.toString()]
  ])
  assert.is(info?.status, 'completed')
  assert.is(info?.end?.snapshot.toString(), snaps[0]!.toString())
  await assertVerified(t.store, 'after the run')
  await assertReindexIdentical(t.store)
})

Rules('a checkpoint is a row of its own: recording one leaves the run\'s record as it was, however many came before', async ({ t }) => {
  const start = (await addBlob(t.store, 'snapshot', bytes('start'))).id
  const [run] = await appendEvents(t.store, [{ type: 'run.start', body: { from: start, params: {}, seed: '1', key: 'c'.repeat(64) } }])
  const key = digestHex(run!.id)
  const record = await t.store.sub.runs.get(key)
  for (let cycle = 1; cycle <= 3; cycle++) {
    const snapshot = (await addBlob(t.store, 'snapshot', bytes(`cycle ${cycle}`))).id
    await appendEvents(t.store, [{ type: 'run.checkpoint', body: { run: run!.id, snapshot, cycle } }])
  }
  assert.equal(await t.store.sub.runs.get(key), record)
  assert.is((await collect(t.store.sub.checkpoints.keys())).length, 3)
  assert.equal((await describeRun(t.store, run!.id))?.checkpoints.map((c) => c.cycle), [1, 2, 3])
  assert.equal((await collect(listRuns(t.store))).map((r) => r.checkpoints.length), [3])
  assert.equal((await collect(listRuns(t.store, { checkpoints: false }))).map((r) => r.checkpoints.length), [0], 'a listing that shows no checkpoints need not read them')
})

Rules('incremental run projections equal a reindex after runs that complete, fail, are interrupted, keep running and continue', async ({ t }) => {
  const s = async (text: string): Promise<CID> => (await addBlob(t.store, 'snapshot', bytes(text))).id
  const start = await s('start')
  const begin = async (body: Record<string, unknown>): Promise<CID> => (await appendEvents(t.store, [{ type: 'run.start', body: { params: {}, seed: '1', key: 'b'.repeat(64), ...body } } as EventDraft]))[0]!.id
  const done = await begin({ from: start, params: { n: 1 } })
  const ckpt = await s('ckpt')
  await appendEvents(t.store, [{ type: 'run.checkpoint', body: { run: done, snapshot: ckpt, cycle: 1 } }, { type: 'run.end', body: { run: done, snapshot: ckpt, cycle: 1 } }])
  const failed = await begin({ from: ckpt, params: { n: 2 } })
  await appendEvents(t.store, [{ type: 'run.fail', body: { run: failed, reason: 'exit code 3', exitCode: 3 } }])
  const interrupted = await begin({ from: ckpt, params: { n: 3 } })
  const late = await s('late')
  await appendEvents(t.store, [{ type: 'run.checkpoint', body: { run: interrupted, snapshot: late, cycle: 4 } }, { type: 'run.fail', body: { run: interrupted, reason: 'interrupted', signal: 'SIGTERM', lastCheckpoint: late } }])
  await begin({ params: { n: 4 }, pid: process.pid })
  const resumed = await begin({ from: late, continues: interrupted, params: { n: 3 } })
  await appendEvents(t.store, [{ type: 'run.end', body: { run: resumed, snapshot: await s('final') } }])
  const statuses = (await collect(listRuns(t.store))).map((run) => run.status)
  assert.equal(statuses, ['completed', 'failed', 'interrupted', 'running', 'completed'])
  await assertVerified(t.store, 'after the runs')
  const view = await runsView(t.store)
  await assertReindexIdentical(t.store)
  assert.equal(await runsView(t.store), view)
})

Rules.run()

// ---------------------------------------------------------------- delivery order, across origins

/** Builds one origin's chain event by event, so that later drafts can name earlier events. */
class Chain {
  readonly events: StoredEvent[] = []
  readonly #origin: string
  readonly #host: string

  constructor (origin: string, host = 'elsewhere') {
    this.#origin = origin
    this.#host = host
  }

  add (clock: number, draft: EventDraft): CID {
    const prev = this.events.at(-1)
    const event = { v: 1, origin: this.#origin, seq: this.events.length + 1, prev: prev?.id ?? null, clock, time: clock * 1000, host: this.#host, ...draft } as SnapEvent
    const stored = sealEvent(event)
    this.events.push(stored)
    return stored.id
  }
}

const STATES = ['s0', 's1', 's2', 's3', 's4'].map((text) => bytes(text))

/** Two stores holding the blobs of STATES (as a merge would bring them), and their snapshot ids. */
async function twoStores (): Promise<{ one: Awaited<ReturnType<typeof tempStore>>, two: Awaited<ReturnType<typeof tempStore>>, ids: CID[] }> {
  const one = await tempStore()
  const two = await tempStore()
  const ids: CID[] = []
  for (const state of STATES) {
    ids.push((await putBlob(one.store, state)).id)
    await putBlob(two.store, state)
  }
  return { one, two, ids }
}

/**
 * Runs of two origins that share snapshots: on A one completes and one is interrupted; B runs from A's
 * snapshots and also records a checkpoint of A's first run (so B's chain names A's run.start, which
 * must arrive first: `prefix` is A's chain up to it, `a` the rest).
 */
function twoOriginsOfRuns (ids: readonly CID[]): { prefix: StoredEvent[], a: StoredEvent[], b: StoredEvent[] } {
  const a = new Chain('a'.repeat(32))
  const b = new Chain('b'.repeat(32), 'other')
  ids.forEach((id, i) => { a.add(1 + i, { type: 'blob.add', body: { blob: id, kind: 'snapshot', size: STATES[i]!.length } }) })
  const r1 = a.add(10, { type: 'run.start', body: { from: ids[0]!, params: { cycles: 2 }, seed: '1', key: '1'.repeat(64) } })
  const prefix = a.events.length
  const r3 = b.add(11, { type: 'run.start', body: { from: ids[0]!, params: { cycles: 9 }, seed: '3', key: '3'.repeat(64) } })
  a.add(12, { type: 'run.checkpoint', body: { run: r1, snapshot: ids[2]!, cycle: 2 } })
  b.add(12, { type: 'run.checkpoint', body: { run: r3, snapshot: ids[3]!, cycle: 1 } })
  a.add(13, { type: 'run.checkpoint', body: { run: r1, snapshot: ids[1]!, cycle: 1 } })
  b.add(13, { type: 'run.checkpoint', body: { run: r1, snapshot: ids[3]!, cycle: 1 } })
  a.add(14, { type: 'run.end', body: { run: r1, snapshot: ids[2]!, cycle: 2 } })
  const r2 = a.add(15, { type: 'run.start', body: { from: ids[2]!, params: { cycles: 5 }, seed: '2', key: '2'.repeat(64) } })
  b.add(15, { type: 'run.checkpoint', body: { run: r3, snapshot: ids[1]!, cycle: 1 } })
  a.add(16, { type: 'run.fail', body: { run: r2, reason: 'interrupted', signal: 'SIGTERM', lastCheckpoint: ids[2]! } })
  b.add(20, { type: 'run.end', body: { run: r3, snapshot: ids[4]! } })
  b.add(21, { type: 'run.start', body: { from: ids[4]!, params: { cycles: 1 }, seed: '4', key: '4'.repeat(64) } })
  return { prefix: a.events.slice(0, prefix), a: a.events.slice(prefix), b: b.events }
}

const Laws = specSuite('run projection laws')

Laws('run and lineage projections do not depend on the order in which two origins\' events arrive', async () => {
  await fc.assert(fc.asyncProperty(fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }), async (picks) => {
    const { one, two, ids } = await twoStores()
    try {
      const { prefix, a, b } = twoOriginsOfRuns(ids)
      for (const event of [...prefix, ...interleave(a, b, picks)]) await commitForeign(one.store, [event])
      await commitForeign(two.store, prefix)
      await commitForeign(two.store, b)
      await commitForeign(two.store, a)
      const [r1] = await collect(listRuns(one.store))
      assert.equal(r1?.checkpoints.map((c) => [c.cycle, c.at.origin[0]]), [[1, 'a'], [1, 'b'], [2, 'a']], 'checkpoints by cycle, then (clock, origin, seq)')
      assert.equal(await dumpDerived(two.store), await dumpDerived(one.store))
      assert.equal(await runsView(two.store), await runsView(one.store))
      await assertVerified(one.store, 'after one delivery order')
      await assertVerified(two.store, 'after the other')
    } finally {
      await one.dispose()
      await two.dispose()
    }
  }), { numRuns: 12 })
})

Laws('two run.end events for one run, from two origins, give the same projections in either delivery order', async () => {
  const { one, two, ids } = await twoStores()
  try {
    const a = new Chain('a'.repeat(32))
    const b = new Chain('b'.repeat(32), 'other')
    ids.forEach((id, i) => { a.add(1 + i, { type: 'blob.add', body: { blob: id, kind: 'snapshot', size: STATES[i]!.length } }) })
    const run = a.add(10, { type: 'run.start', body: { from: ids[0]!, params: {}, seed: '1', key: '1'.repeat(64) } })
    const later = a.add(30, { type: 'run.end', body: { run, snapshot: ids[1]! } })
    const earlier = b.add(20, { type: 'run.end', body: { run, snapshot: ids[2]! } })
    const byId = new Map([...a.events, ...b.events].map((e) => [e.id.toString(), e]))
    const head = a.events.filter((e) => !e.id.equals(later))
    // One store gets A's whole chain first (as a rebuild reads it); the other gets B's end in between.
    for (const event of [...head, byId.get(later.toString())!, byId.get(earlier.toString())!]) await commitForeign(one.store, [event])
    for (const event of [...head, byId.get(earlier.toString())!, byId.get(later.toString())!]) await commitForeign(two.store, [event])
    assert.equal(await runsView(two.store), await runsView(one.store), 'the same run, with the end of lower (clock, origin, seq)')
    assert.equal((await describeRun(one.store, run))?.end?.snapshot.toString(), ids[2]!.toString())
    assert.equal(await dumpDerived(two.store), await dumpDerived(one.store), 'the same lineage entries')
    await assertVerified(two.store, 'after the end with the lower clock arrived first')
  } finally {
    await one.dispose()
    await two.dispose()
  }
})

Laws.run()
