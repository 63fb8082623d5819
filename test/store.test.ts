import { existsSync } from 'node:fs'
import { mkdir, readdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import * as assert from 'uvu/assert'
import { FORMAT_VERSION, addBlob, appendEvents, closeStore, codec, digestHex, eventId, initStore, listTags, openStore, putBlob, reindex, setTag, verifyStore } from '../src/index.ts'
import { eventKey } from '../src/keys.ts'
import { poolNudgeRunning } from '../src/pool-nudge.ts'
import { bytes, collect, expectCode, expectNoUnhandledRejection, holdStoreOpen, rawChunks, rawSublevel, storeSuite, withRawDb } from './_helpers/store.ts'
import type { CID } from 'multiformats/cid'
import type { Store } from '../src/index.ts'
import type { TagProjection } from '../src/projections/tags.ts'
import type { RawDb } from './_helpers/store.ts'

// ---------------------------------------------------------------- init

const Init = storeSuite('store init')

Init('initStore creates a store in a missing directory, open, with a new 128-bit origin', async ({ t }) => {
  const path = join(t.dir, 'a', 'b', 'fresh')
  const store = await initStore(path)
  try {
    assert.match(store.origin, /^[0-9a-f]{32}$/)
    assert.is.not(store.origin, t.store.origin, 'each store has its own origin')
    assert.is(store.clock, 0)
    assert.is(store.path, path)
  } finally {
    await closeStore(store)
  }
})

Init('initStore accepts an existing empty directory', async ({ t }) => {
  const path = join(t.dir, 'empty')
  await mkdir(path)
  await closeStore(await initStore(path))
  await closeStore(await openStore(path))
})

Init('initStore on a non-empty directory fails with E_EXISTS and leaves it untouched', async ({ t }) => {
  const path = join(t.dir, 'busy')
  await mkdir(path)
  await writeFile(join(path, 'notes.txt'), 'mine')
  const err = await expectCode(initStore(path), 'E_EXISTS')
  assert.match(err.message, path)
  assert.equal(await readdir(path), ['notes.txt'])
})

Init('initStore on an existing store fails with E_EXISTS and keeps its origin', async ({ t }) => {
  const origin = t.store.origin
  await t.close()
  await expectCode(initStore(t.path), 'E_EXISTS')
  assert.is((await t.reopen()).origin, origin)
})

Init('initStore on a path that is a file fails with E_EXISTS', async ({ t }) => {
  const path = join(t.dir, 'a-file')
  await writeFile(path, 'x')
  await expectCode(initStore(path), 'E_EXISTS')
})

Init.run()

// ---------------------------------------------------------------- open

const Open = storeSuite('store open')

Open('openStore on a missing path fails with E_NO_STORE', async ({ t }) => {
  const path = join(t.dir, 'nowhere')
  const err = await expectCode(openStore(path), 'E_NO_STORE')
  assert.match(err.message, path)
})

Open('openStore on a file fails with E_NO_STORE', async ({ t }) => {
  const path = join(t.dir, 'a-file')
  await writeFile(path, 'x')
  await expectCode(openStore(path), 'E_NO_STORE')
})

Open('openStore on an empty directory fails with E_NO_STORE', async ({ t }) => {
  const path = join(t.dir, 'empty')
  await mkdir(path)
  const err = await expectCode(openStore(path), 'E_NO_STORE')
  assert.match(err.message, 'snapstore init')
  assert.equal(await readdir(path), [], 'opening creates nothing')
})

Open('openStore on a LevelDB database without snapstore metadata fails with E_NO_STORE and lets it go', async ({ t }) => {
  const path = join(t.dir, 'foreign')
  const db = new ClassicLevel(join(path, 'db'))
  await db.open()
  await db.put('hello', 'world')
  await db.close()
  await expectCode(openStore(path), 'E_NO_STORE')
  await withRawDb(path, async (raw) => { assert.is(new TextDecoder().decode(await raw.get('hello')), 'world') })
})

Open('openStore of a store of a newer format fails with E_VERSION and lets it go', async ({ t }) => {
  await t.close()
  await withRawDb(t.path, async (db) => { await rawSublevel(db, 'meta').put('format', codec.encode(FORMAT_VERSION + 1)) })
  const err = await expectCode(openStore(t.path, { wait: 0 }), 'E_VERSION')
  assert.match(err.message, `format version ${FORMAT_VERSION + 1}`)
  // The refused open closed the database: it can be opened, repaired and used again.
  await withRawDb(t.path, async (db) => { await rawSublevel(db, 'meta').put('format', codec.encode(FORMAT_VERSION)) })
  await t.reopen()
})

Open('openStore gives back the origin and clock the store was closed with', async ({ t }) => {
  await addBlob(t.store, 'snapshot', bytes('x'), { tag: 'x' })
  const { origin, clock } = t.store
  const store = await t.reopen()
  assert.is(store.origin, origin)
  assert.is(store.clock, clock)
  assert.is(clock, 2)
})

Open('an add, an append or a verify asked of a closed store fails with E_BAD_INPUT, not a LevelDB error, and the store reopens whole', async ({ t }) => {
  const { id } = await addBlob(t.store, 'snapshot', bytes('before closing'))
  const closed = t.store
  await closeStore(closed)
  await expectCode(addBlob(closed, 'snapshot', bytes('after closing')), 'E_BAD_INPUT')
  await expectCode(appendEvents(closed, [{ type: 'tag.set', body: { name: 'late', target: id } }]), 'E_BAD_INPUT')
  await expectCode(verifyStore(closed), 'E_BAD_INPUT')
  const store = await t.reopen()
  assert.equal(await verifyStore(store), { ok: true, problems: [], events: 1, blobs: 1 })
})

Open('while any store is open here the thread pool is nudged each second, and closing the last stops it', async ({ t }) => {
  assert.ok(poolNudgeRunning(), 'with a store open')
  const second = await initStore(join(t.dir, 'second'))
  await t.close()
  assert.ok(poolNudgeRunning(), 'with one of two stores still open')
  await closeStore(second)
  await closeStore(second)
  assert.not.ok(poolNudgeRunning(), 'with none open, after closing one twice')
  await expectCode(openStore(join(t.dir, 'nowhere')), 'E_NO_STORE')
  assert.not.ok(poolNudgeRunning(), 'after a failed open')
  await t.reopen()
  assert.ok(poolNudgeRunning(), 'with a store open again')
})

Open.run()

// ---------------------------------------------------------------- lock

const Lock = storeSuite('store lock')

Lock('a store held open by another process fails with E_LOCKED naming the store path', async ({ t }) => {
  await t.close()
  const holder = await holdStoreOpen(t.path)
  try {
    const err = await expectCode(openStore(t.path, { wait: 0.3 }), 'E_LOCKED')
    assert.match(err.message, `"${t.path}"`)
    assert.match(err.message, '--wait', 'it says what to do')
    assert.is(err.details['path'], t.path)
    if (existsSync('/proc/locks')) assert.match(err.message, `process ${holder.pid}`, 'where the OS tells, it names the holder')
  } finally {
    await holder.release()
  }
  await t.reopen()
})

Lock('openStore waits for another process to let go of the store', async ({ t }) => {
  await t.close()
  const holder = await holdStoreOpen(t.path)
  const released = new Promise<void>((resolve, reject) => { setTimeout(() => { holder.release().then(resolve, reject) }, 200) })
  try {
    const store = await openStore(t.path, { wait: 10 })
    t.store = store
    await closeStore(store)
  } finally {
    await released
  }
  await t.reopen()
})

Lock('opening a store this process has open is E_LOCKED, and the store stays locked against other processes', async ({ t }) => {
  const err = await expectCode(openStore(t.path, { wait: 0 }), 'E_LOCKED')
  assert.match(err.message, 'this process has it open already')
  // LevelDB's own refusal of a second open would have dropped this process's lock on the store.
  await holdStoreOpen(t.path).then(async (holder) => {
    await holder.release()
    assert.unreachable('another process opened a store this process holds')
  }, (refused: Error) => { assert.match(refused.message, 'E_LOCKED') })
})

Lock.run()

// ---------------------------------------------------------------- verify

interface Healthy { snapshot: CID, config: CID, snapshotBytes: Uint8Array, path: string }

/** A snapshot, a config and a tag on the snapshot: three events, two blobs. */
async function healthy (store: Store): Promise<Healthy> {
  const snapshotBytes = bytes('snapshot bytes')
  const snapshot = (await addBlob(store, 'snapshot', snapshotBytes)).id
  const config = (await addBlob(store, 'config', bytes('config bytes'))).id
  await setTag(store, 'best', snapshot)
  return { snapshot, config, snapshotBytes, path: store.path }
}

const Verify = storeSuite('store verify')

Verify('verifyStore of a healthy store is ok with the right counts', async ({ t }) => {
  await healthy(t.store)
  assert.equal(await verifyStore(t.store), { ok: true, events: 3, blobs: 2, problems: [] })
})

Verify('verifyStore reports each blob it re-hashes, with how many there are, to onProgress', async ({ t }) => {
  await healthy(t.store)
  const seen: string[] = []
  await verifyStore(t.store, { onProgress: (e) => { if (e.type === 'snapstore:verify:blob') seen.push(`${e.done}/${e.total}`) } })
  assert.equal(seen, ['1/2', '2/2'])
})

Verify('verifyStore of an empty store is ok', async ({ t }) => {
  assert.equal(await verifyStore(t.store), { ok: true, events: 0, blobs: 0, problems: [] })
})

Verify('verifyStore of a store holding an empty blob is ok', async ({ t }) => {
  await healthy(t.store)
  await addBlob(t.store, 'blob', new Uint8Array(0))
  const report = await expectNoUnhandledRejection(async () => await verifyStore(t.store))
  assert.equal(report, { ok: true, events: 4, blobs: 3, problems: [] })
})

Verify('verifyStore beside appends and blob puts on the same open store checks one state of it', async ({ t }) => {
  await healthy(t.store)
  const adds = (from: number): Array<Promise<unknown>> => Array.from({ length: 20 }, async (_, i) => await addBlob(t.store, 'snapshot', bytes(`beside ${from + i}`)))
  const [, report] = await Promise.all([Promise.all(adds(0)), verifyStore(t.store), Promise.all(adds(20))])
  assert.equal(report.problems, [])
  assert.equal(await verifyStore(t.store), { ok: true, problems: [], events: 43, blobs: 42 })
})

Verify('verifyStore counts blobs stored without an event', async ({ t }) => {
  await healthy(t.store)
  await putBlob(t.store, bytes('bare'))
  const report = await verifyStore(t.store)
  assert.is(report.ok, true, report.problems.join('\n'))
  assert.is(report.blobs, 3)
})

Verify('an event missing from the id index is reported as a missing index row, not as a missing event a tag names', async ({ t }) => {
  const h = await healthy(t.store)
  const [run] = await appendEvents(t.store, [{ type: 'run.start', body: { from: h.snapshot, params: {}, seed: '1', key: 'ab'.repeat(32) } }])
  await setTag(t.store, 'the-run', run!.id)
  const hex = digestHex(run!.id)
  const store = await t.editRaw(async (db) => { await rawSublevel(db, 'eventId').del(hex) })
  const report = await verifyStore(store)
  assert.equal(report.problems, [`projection eventId ${hex}: missing`])
  await reindex(store)
  assert.ok((await verifyStore(store)).ok, 'reindex restores the index')
})

Verify('a reindex cut short while it rebuilds is completed when the store is next opened: the same listings, and verify finds nothing', async ({ t }) => {
  const h = await healthy(t.store)
  // Enough events for the rebuild to report progress (every 10,000), where it is interrupted.
  for (let i = 0; i < 11; i++) await appendEvents(t.store, Array.from({ length: 1000 }, (_, j) => ({ type: 'tag.set', body: { name: `t${i}-${j}`, target: h.snapshot } })), { sync: false })
  const before = await collect(listTags(t.store))
  const controller = new AbortController()
  const interrupted = await reindex(t.store, { signal: controller.signal, onProgress: () => { controller.abort() } }).then(() => undefined, (err: Error) => err)
  assert.is(interrupted?.name, 'AbortError', 'the reindex stopped in its rebuild')
  const store = await t.reopen()
  assert.equal(await collect(listTags(store)), before)
  assert.equal((await verifyStore(store)).problems, [])
})

Verify('an id-index row for an event the log lacks does not make a reference to it count as present', async ({ t }) => {
  const h = await healthy(t.store)
  const ghost = eventId(codec.encode({ ghost: true }))
  await t.store.sub.eventId.put(digestHex(ghost), bytes('nowhere:1'))
  await appendEvents(t.store, [{ type: 'run.end', body: { run: ghost, snapshot: h.snapshot } }])
  const { problems } = await verifyStore(t.store)
  assert.ok(problems.some((p) => p.endsWith(`names ${ghost.toString()}, which the store lacks`)), problems.join('\n'))
  assert.ok(problems.includes(`projection eventId ${digestHex(ghost)}: present, but a rebuild does not have it`), problems.join('\n'))
})

Verify('a reference to an event the id index lost is found in the log, even when another event cannot be read', async ({ t }) => {
  const h = await healthy(t.store)
  const [start] = await appendEvents(t.store, [{ type: 'run.start', body: { from: h.snapshot, params: {}, seed: '1', key: 'ab'.repeat(32) } }])
  await setTag(t.store, 'filler', h.config)
  await appendEvents(t.store, [{ type: 'run.end', body: { run: start!.id, snapshot: h.snapshot } }])
  const unreadable = start!.event.seq + 1
  const store = await t.editRaw(async (db) => {
    await rawSublevel(db, 'event').put(eventKey(t.store.origin, unreadable), Uint8Array.from([1, 2, 3]))
    await rawSublevel(db, 'eventId').del(digestHex(start!.id))
  })
  const { problems } = await verifyStore(store)
  assert.ok(problems.some((p) => p.startsWith(`event ${t.store.origin}:${unreadable}: `)), problems.join('\n'))
  assert.not.ok(problems.some((p) => p.includes('which the store lacks')), problems.join('\n'))
})

Verify('a stray projection key that is not UTF-8 is the only row reported: the comparison stays in step', async ({ t }) => {
  const h = await healthy(t.store)
  await setTag(t.store, 'a\u00ff', h.snapshot)
  const value = await t.store.sub.tags.get('a\u00ff')
  // Its bytes 61 c0 sort before those of "a\u00ff" (61 c3 bf); read back as text it would sort after.
  await t.store.db.put(Buffer.concat([Buffer.from(t.store.sub.tags.prefix), Buffer.from([0x61, 0xc0])]) as unknown as string, value!, { keyEncoding: 'buffer' } as object)
  const { problems } = await verifyStore(t.store)
  assert.equal(problems, ['projection tags a\ufffd: present, but a rebuild does not have it'])
})

interface Damage {
  name: string
  damage: (db: RawDb, h: Healthy, origin: string) => Promise<void>
  /** A problem line that verifyStore must report. */
  problem: (h: Healthy, origin: string) => RegExp | string
  /** Whether `reindex` alone repairs it. */
  reindexRepairs: boolean
}

const DAMAGES: Damage[] = [
  {
    name: 'a tampered chunk',
    damage: async (db, h) => {
      const bad = Uint8Array.from(h.snapshotBytes)
      bad[0] = bad[0]! ^ 1
      await rawChunks(db, h.path).put(digestHex(h.snapshot), bad)
    },
    problem: (h) => new RegExp(`^blob ${h.snapshot.toString()}: .*digest mismatch: expected ${digestHex(h.snapshot)}, computed [0-9a-f]{64}$`),
    reindexRepairs: false
  },
  {
    name: 'a removed event in the middle of the chain',
    damage: async (db, _h, origin) => { await rawSublevel(db, 'event').del(eventKey(origin, 2)) },
    problem: (_h, origin) => `origin ${origin}: seq 2 is missing before seq 3`,
    reindexRepairs: false
  },
  {
    name: 'a removed blob that an event names',
    damage: async (db, h) => { await rawSublevel(db, 'blob').del(digestHex(h.config)) },
    problem: (h, origin) => `event ${origin}:2: names ${h.config.toString()}, which the store lacks`,
    reindexRepairs: false
  },
  {
    name: 'a version vector behind the log',
    damage: async (db, _h, origin) => {
      const head = codec.decode<{ seq: number, head: CID }>((await rawSublevel(db, 'heads').get(origin))!)
      await rawSublevel(db, 'heads').put(origin, codec.encode({ ...head, seq: 2 }))
    },
    problem: (_h, origin) => `origin ${origin}: the version vector says seq 2, the log ends at 3`,
    reindexRepairs: false
  },
  {
    name: 'a tag projection pointing elsewhere',
    damage: async (db, h) => {
      const tags = rawSublevel(db, 'tags')
      const record = codec.decode<TagProjection>((await tags.get('best'))!)
      await tags.put('best', codec.encode({ ...record, target: h.config }))
    },
    problem: () => 'projection tags best: differs from a rebuild',
    reindexRepairs: true
  },
  {
    name: 'a removed blob projection',
    damage: async (db, h) => { await rawSublevel(db, 'blobs').del(digestHex(h.config)) },
    problem: (h) => `projection blobs ${digestHex(h.config)}: missing`,
    reindexRepairs: true
  },
  {
    name: 'an extra listing entry',
    damage: async (db, h) => { await rawSublevel(db, 'kinds').put('snapshot:zzz', bytes(h.config.toString())) },
    problem: () => 'projection kinds snapshot:zzz: present, but a rebuild does not have it',
    reindexRepairs: true
  },
  {
    name: 'a removed total-order entry',
    damage: async (db) => {
      const order = rawSublevel(db, 'order')
      const keys: string[] = []
      for await (const key of order.keys()) keys.push(key)
      await order.del(keys[0]!)
    },
    problem: () => /^projection order \S+: missing$/,
    reindexRepairs: true
  }
]

for (const row of DAMAGES) {
  Verify(`verifyStore reports ${row.name}`, async ({ t }) => {
    const h = await healthy(t.store)
    const origin = t.store.origin
    const store = await t.editRaw(async (db) => { await row.damage(db, h, origin) })
    const report = await verifyStore(store)
    assert.is(report.ok, false)
    const expected = row.problem(h, origin)
    const found = report.problems.some((p) => (typeof expected === 'string' ? p === expected : expected.test(p)))
    assert.ok(found, `expected a problem ${String(expected)}, got:\n${report.problems.join('\n')}`)
    if (row.reindexRepairs) {
      await reindex(store)
      const after = await verifyStore(store)
      assert.ok(after.ok, `reindex repairs ${row.name}: ${after.problems.join('; ')}`)
    }
  })
}

Verify.run()
