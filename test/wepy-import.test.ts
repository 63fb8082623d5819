import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import * as assert from 'uvu/assert'
import {
  CHUNKING, WEPY_MD5_META, addBlob, appendEvents, digestHex, importWepy, listBlobIds, listRuns, listTags, mergeStores, putBlob, readBlobBytes, reindex, resolveId, setTag, storeStats, verifyStore
} from '../src/index.ts'
import { RAW, cidFromDigest } from '../src/ids.ts'
import { collect, distinctChunkBytes, expectCode, fixturePath, seededBytes } from './_helpers/store.ts'
import { dumpDerived, workspaceSuite } from './_helpers/merge.ts'
import { WEPY, WEPY_SCHEMA, expectedListings, writeSqlite } from './_helpers/wepy.ts'
import type { Store } from '../src/index.ts'

const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('hex')

/** What two stores must agree on after the same wepy history came in: sets, since first appearance follows each store's own history. */
async function contents (store: Store): Promise<Record<string, string[]>> {
  return {
    snapshots: (await collect(listBlobIds(store, 'snapshot'))).sort(),
    configs: (await collect(listBlobIds(store, 'config'))).sort(),
    runs: (await collect(listRuns(store))).map((run) => [run.status, run.start.from, run.end?.snapshot, run.start.config, run.end?.cycle, run.start.key].join(' ')).sort(),
    tags: (await collect(listTags(store))).map((tag) => `${tag.name} ${tag.target.toString()}`).sort()
  }
}

const Import = workspaceSuite('importWepy()')

Import('keeps every snapshot and configuration byte for byte, and answers to its wepy MD5', async ({ ws }) => {
  const store = await ws.init('s')
  assert.equal(await importWepy(store, WEPY.master), { snapshots: 3, configs: 2, runs: 2, tags: 0 })
  const wepy = expectedListings().get('master.orch.sqlite')!
  for (const [kind, hashes] of [['snapshot', wepy.snapshots], ['config', wepy.configs]] as const) {
    for (const hash of hashes) {
      const id = await resolveId(store, hash, kind)
      assert.is(md5(await readBlobBytes(store, id)), hash)
    }
  }
})

Import('holds everything wepy listed for each fixture database', async ({ ws }) => {
  for (const [file, wepy] of expectedListings()) {
    const store = await ws.init(file)
    await importWepy(store, fixturePath(`wepy/${file}`))
    const ids = async (hashes: string[], kind: 'snapshot' | 'config'): Promise<string[]> => (await Promise.all(hashes.map(async (h) => (await resolveId(store, h, kind)).toString()))).sort()
    assert.equal(await ids(wepy.snapshots, 'snapshot'), (await collect(listBlobIds(store, 'snapshot'))).sort(), `${file}: snapshots`)
    assert.equal(await ids(wepy.configs, 'config'), (await collect(listBlobIds(store, 'config'))).sort(), `${file}: configs`)
    const runs = (await collect(listRuns(store))).map((run) => `${run.start.from!.toString()} ${run.end!.snapshot.toString()}`).sort()
    const expected = await Promise.all(wepy.runs.map(async ([start, end]) => `${(await resolveId(store, start, 'snapshot')).toString()} ${(await resolveId(store, end, 'snapshot')).toString()}`))
    assert.equal(runs, expected.sort(), `${file}: runs`)
  }
})

Import('records each run row as a completed run with its config and last cycle index', async ({ ws }) => {
  const store = await ws.init('s')
  await importWepy(store, WEPY.jobA)
  const [run] = await collect(listRuns(store))
  assert.is(run!.status, 'completed')
  assert.is(run!.start.from!.toString(), (await resolveId(store, '26221b21c15a27af3105582290f0969a', 'snapshot')).toString())
  assert.is(run!.end!.snapshot.toString(), (await resolveId(store, '04751d990481b24874fe74930c9167ab', 'snapshot')).toString())
  assert.is(run!.start.config!.toString(), (await resolveId(store, '96088841a5f0e11cf6b21cacc86ca755', 'config')).toString())
  assert.is(run!.end!.cycle, 992)
  assert.is(run!.start.label, 'wepy')
})

Import('a run whose start an import cut short left alone is ended by the next import, not started again', async ({ ws }) => {
  const whole = await ws.init('whole')
  await importWepy(whole, WEPY.jobA)
  const [imported] = await collect(listRuns(whole))
  // What an import killed between a run's start and its end leaves: the start, with its inputs.
  const cut = await ws.init('cut')
  for (const id of [imported!.start.from!, imported!.start.config!]) await putBlob(cut, await readBlobBytes(whole, id))
  await appendEvents(cut, [{ type: 'run.start', body: imported!.start }])
  await importWepy(cut, WEPY.jobA)
  const runs = await collect(listRuns(cut))
  assert.equal(runs.map((run) => [run.status, run.end?.snapshot.toString(), run.end?.cycle]), [['completed', imported!.end!.snapshot.toString(), 992]])
})

Import('turns the meta defaults into wepy.* tags, storing pickled values as blobs', async ({ ws }) => {
  const store = await ws.init('s')
  assert.equal(await importWepy(store, WEPY.root), { snapshots: 1, configs: 1, runs: 0, tags: 4 })
  const tags = new Map((await collect(listTags(store))).map((tag) => [tag.name, tag.target.toString()]))
  assert.is(tags.get('wepy.default_snapshot'), (await resolveId(store, '26221b21c15a27af3105582290f0969a', 'snapshot')).toString())
  assert.is(tags.get('wepy.default_configuration'), (await resolveId(store, '28197e579c179bab49406160f34e4b0b', 'config')).toString())
  assert.equal((await collect(listBlobIds(store, 'blob'))).sort(), [tags.get('wepy.default_init_walkers'), tags.get('wepy.default_sim_apparatus')].sort())
})

Import('a database of many snapshots sharing chunks is imported in the order it lists them, each chunk written once, and importing again records nothing', async ({ ws }) => {
  const store = await ws.init('s')
  // Eight snapshots stored ahead of one another: states of one system, each changing its tail.
  const shared = seededBytes(3 * CHUNKING.max, 41)
  const states = Array.from({ length: 8 }, (_, i) => Buffer.concat([shared, new TextEncoder().encode(`state ${i}`)]))
  const db = await writeSqlite(ws.scratch('.sqlite'), [...WEPY_SCHEMA, ...states.map((state): [string, Array<string | Uint8Array>] => ['INSERT INTO snapshots VALUES (?, ?)', [md5(state), state]])])
  assert.equal(await importWepy(store, db), { snapshots: 8, configs: 0, runs: 0, tags: 0 })
  const listed = await collect(listBlobIds(store, 'snapshot'))
  // The database lists snapshots by their MD5.
  const byMd5 = [...states].sort((a, b) => md5(a).localeCompare(md5(b)))
  assert.equal(listed, byMd5.map((state) => cidFromDigest(RAW, createHash('sha256').update(state).digest()).toString()))
  const stats = await storeStats(store)
  assert.is(stats.storedBytes, distinctChunkBytes(states))
  assert.ok(stats.packBytes < stats.storedBytes + 4096, `no chunk is written twice (${stats.packBytes} bytes in packs for ${stats.storedBytes} stored)`)
  assert.equal(await importWepy(store, db), { snapshots: 0, configs: 0, runs: 0, tags: 0 })
  assert.equal((await verifyStore(store)).problems, [])
})

Import('importing again records nothing', async ({ ws }) => {
  const store = await ws.init('s')
  for (const file of [WEPY.root, WEPY.jobA, WEPY.jobB]) await importWepy(store, file)
  const before = await dumpDerived(store)
  for (const file of [WEPY.root, WEPY.jobA, WEPY.jobB, WEPY.master]) assert.equal(await importWepy(store, file), { snapshots: 0, configs: 0, runs: 0, tags: 0 })
  assert.equal(await dumpDerived(store), before)
})

Import('importing the job databases into stores of their own and merging them equals importing the reconciled master', async ({ ws }) => {
  const jobA = await ws.init('jobA')
  await importWepy(jobA, WEPY.jobA)
  await importWepy(await ws.init('jobB'), WEPY.jobB)
  await ws.close('jobB')
  await mergeStores(jobA, ws.path('jobB'))
  const master = await ws.init('master')
  await importWepy(master, WEPY.master)
  assert.equal(await contents(jobA), await contents(master))
  assert.equal(await importWepy(jobA, WEPY.master), { snapshots: 0, configs: 0, runs: 0, tags: 0 })
  assert.is(md5(await readBlobBytes(jobA, await resolveId(jobA, '006932874592eb4e0223a0191d369d99', 'snapshot'))), '006932874592eb4e0223a0191d369d99')
})

Import('the MD5 aliases are a projection: reindex rebuilds them identically and verify finds nothing amiss', async ({ ws }) => {
  const store = await ws.init('s')
  await importWepy(store, WEPY.root)
  await importWepy(store, WEPY.master)
  const before = await dumpDerived(store)
  await reindex(store)
  assert.equal(await dumpDerived(store), before)
  assert.ok((await verifyStore(store)).ok)
})

Import('fails with E_BAD_INPUT and writes nothing for a file that is not SQLite or not an orchestrator database', async ({ ws }) => {
  const store = await ws.init('s')
  const before = await dumpDerived(store)
  const text = ws.scratch('.sqlite')
  await writeFile(text, 'not a database at all, just some text that is long enough to be read\n'.repeat(20))
  assert.match((await expectCode(importWepy(store, text), 'E_BAD_INPUT')).message, 'not an SQLite database')
  const other = await writeSqlite(ws.scratch('.sqlite'), [['CREATE TABLE t (x)']])
  assert.match((await expectCode(importWepy(store, other), 'E_BAD_INPUT')).message, 'not a wepy orchestrator database')
  await expectCode(importWepy(store, ws.scratch('.sqlite')), 'E_NOT_FOUND')
  assert.equal(await dumpDerived(store), before)
})

Import('fails with E_BAD_INPUT and writes nothing when a stored MD5 does not match its bytes, or a run names a missing snapshot', async ({ ws }) => {
  const store = await ws.init('s')
  const before = await dumpDerived(store)
  const bytes = new TextEncoder().encode('eJzLSM3JyVcozy/KSQEAGgQEXQ==')
  const wrong = await writeSqlite(ws.scratch('.sqlite'), [...WEPY_SCHEMA, ['INSERT INTO snapshots VALUES (?, ?)', ['0'.repeat(32), bytes]]])
  assert.match((await expectCode(importWepy(store, wrong), 'E_BAD_INPUT')).message, `does not match its bytes (their MD5 is ${md5(bytes)})`)
  const dangling = await writeSqlite(ws.scratch('.sqlite'), [...WEPY_SCHEMA,
    ['INSERT INTO snapshots VALUES (?, ?)', [md5(bytes), bytes]],
    ['INSERT INTO runs VALUES (?, ?, ?, ?)', [md5(bytes), 'f'.repeat(32), 'e'.repeat(32), 3]]])
  assert.match((await expectCode(importWepy(store, dangling), 'E_BAD_INPUT')).message, `end snapshot ${'f'.repeat(32)} is neither in the database nor in the store`)
  assert.equal(await dumpDerived(store), before)
})

// wepy's own tables, without the keys and constraints WEPY_SCHEMA adds: what databases in use may hold.
const LOOSE_SCHEMA: ReadonlyArray<[string]> = [
  ['CREATE TABLE runs (start_hash, end_hash, config_hash, last_cycle_idx)'],
  ['CREATE TABLE meta (key, value)'],
  ['CREATE TABLE snapshots (snaphash, snapshot)'],
  ['CREATE TABLE configurations (config_hash, config)']
]

Import('a row repeated in a database is one snapshot and one run', async ({ ws }) => {
  const store = await ws.init('s')
  const [s1, s2, c] = ['s1', 's2', 'c'].map((text) => new TextEncoder().encode(text)) as [Uint8Array, Uint8Array, Uint8Array]
  const db = await writeSqlite(ws.scratch('.sqlite'), [...LOOSE_SCHEMA,
    ...[s1, s1, s2].map((bytes): [string, Array<string | Uint8Array>] => ['INSERT INTO snapshots VALUES (?, ?)', [md5(bytes), bytes]]),
    ['INSERT INTO configurations VALUES (?, ?)', [md5(c), c]],
    ...[1, 2].map((): [string, string[]] => ['INSERT INTO runs VALUES (?, ?, ?, 3)', [md5(s1), md5(s2), md5(c)]])])
  assert.equal(await importWepy(store, db), { snapshots: 2, configs: 1, runs: 1, tags: 0 })
  assert.is((await collect(listRuns(store))).length, 1)
})

Import('a run without a last cycle index, a damaged database, and one with changes in its write-ahead log are E_BAD_INPUT, and nothing is written', async ({ ws }) => {
  const store = await ws.init('s')
  const before = await dumpDerived(store)
  const bytes = new TextEncoder().encode('start')
  const noCycle = await writeSqlite(ws.scratch('.sqlite'), [...LOOSE_SCHEMA,
    ['INSERT INTO snapshots VALUES (?, ?)', [md5(bytes), bytes]],
    ['INSERT INTO runs VALUES (?, ?, ?, NULL)', [md5(bytes), md5(bytes), md5(bytes)]]])
  assert.match((await expectCode(importWepy(store, noCycle), 'E_BAD_INPUT')).message, 'not a whole number')
  // Many rows, then the middle of the file overwritten: SQLite finds it out only while reading the rows.
  const damaged = await writeSqlite(ws.scratch('.sqlite'), [...LOOSE_SCHEMA,
    ...Array.from({ length: 400 }, (_, i): [string, Array<string | Uint8Array>] => { const b = seededBytes(3000, i); return ['INSERT INTO snapshots VALUES (?, ?)', [md5(b), b]] })])
  const file = await readFile(damaged)
  file.fill(0x41, file.length >> 1, (file.length >> 1) + 40_000)
  await writeFile(damaged, file)
  assert.match((await expectCode(importWepy(store, damaged), 'E_BAD_INPUT')).message, 'damaged')
  const pending = await writeSqlite(ws.scratch('.sqlite'), [...LOOSE_SCHEMA])
  await writeFile(`${pending}-wal`, 'frames not yet checkpointed')
  assert.match((await expectCode(importWepy(store, pending), 'E_BAD_INPUT')).message, 'wal_checkpoint')
  const hot = await writeSqlite(ws.scratch('.sqlite'), [...LOOSE_SCHEMA])
  await writeFile(`${hot}-journal`, Buffer.concat([Buffer.from('d9d505f920a163d7', 'hex'), Buffer.alloc(504)]))
  assert.match((await expectCode(importWepy(store, hot), 'E_BAD_INPUT')).message, 'rollback journal')
  const disagreeing = await writeSqlite(ws.scratch('.sqlite'), [...LOOSE_SCHEMA,
    ['INSERT INTO snapshots VALUES (?, ?)', [md5(bytes), bytes]],
    ['INSERT INTO runs VALUES (?, ?, ?, 3)', [md5(bytes), md5(bytes), md5(bytes)]],
    ['INSERT INTO runs VALUES (?, ?, ?, 4)', [md5(bytes), md5(bytes), md5(bytes)]]])
  assert.match((await expectCode(importWepy(store, disagreeing), 'E_BAD_INPUT')).message, 'listed twice')
  assert.equal(await dumpDerived(store), before)
})

Import('a database whose rollback journal is kept between changes (PERSIST mode, its header zeroed) imports', async ({ ws }) => {
  const store = await ws.init('s')
  const bytes = new TextEncoder().encode('kept journal')
  const db = await writeSqlite(ws.scratch('.sqlite'), [...LOOSE_SCHEMA, ['INSERT INTO snapshots VALUES (?, ?)', [md5(bytes), bytes]]])
  await writeFile(`${db}-journal`, Buffer.alloc(512))
  assert.equal(await importWepy(store, db), { snapshots: 1, configs: 0, runs: 0, tags: 0 })
})

const Alias = workspaceSuite('resolveId() with wepy MD5 aliases')

Alias('an MD5 alias that is also a sha-256 prefix of another blob is E_AMBIGUOUS, listing both', async ({ ws }) => {
  const store = await ws.init('s')
  const other = await addBlob(store, 'snapshot', new TextEncoder().encode('some other state'))
  const lookalike = digestHex(other.id).slice(0, 32)
  const aliased = await addBlob(store, 'snapshot', new TextEncoder().encode('aliased state'), { meta: { [WEPY_MD5_META]: lookalike } })
  const err = await expectCode(resolveId(store, lookalike, 'snapshot'), 'E_AMBIGUOUS')
  assert.equal((err.details['candidates'] as string[]).sort(), [other.id.toString(), aliased.id.toString()].sort())
})

Alias('a tag of the same name wins over an MD5 alias, and an alias of another kind is not found', async ({ ws }) => {
  const store = await ws.init('s')
  await importWepy(store, WEPY.jobA)
  const hash = '04751d990481b24874fe74930c9167ab'
  await expectCode(resolveId(store, hash, 'config'), 'E_NOT_FOUND')
  const config = await resolveId(store, '96088841a5f0e11cf6b21cacc86ca755', 'config')
  await setTag(store, hash, config)
  assert.is((await resolveId(store, hash, 'any')).toString(), config.toString())
})

Import.run()
Alias.run()
