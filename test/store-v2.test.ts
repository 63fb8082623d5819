import * as assert from 'uvu/assert'
import { decode, encode } from '../src/codec.ts'
import { CID } from 'multiformats/cid'
import { FORMAT_VERSION, appendEvents } from '../src/index.ts'
import { collect, expectCode, fixtureCopySuite } from './_helpers/store.ts'
import { blobIdOf, digestOf, dumpStore, expectOk, jsonLines, snap, sublevel, withDb, withLibrary } from './_helpers/cli.ts'

// What the format 2 CLI wrote into fixtures/store-v2 (see its README.md): three runs and their checkpoints by cycle.
const CKPT = {
  one: 'bafkreifbqiao3npzghy4h2a5dvi2ojz7o7sfugh2b5mq3rlp6wlfjbirwq',
  two: 'bafkreift4iunzssc3eomzbrg6uu5b3wojc3foqtwx432cnjw6ltcqq45yy',
  three: 'bafkreibouk5us3u7gyd4yz5r2gb7x2j3g2lc55x7ycn7b2holqrrp3yoxq',
  resumedOne: 'bafkreicwktri6qqb4yasjr74z7jjh3dsl3arw4wdtr3zajebghk6yvhlte',
  resumedTwo: 'bafkreifwh7rpmmeto4zjszcqmgqbu6ljqrva2xwtwl5iq6fmuie73kfz5a'
}
const ORIGIN = 'b65ddcf567137b2c74dd2e0885dcdb6a'
const DONE = 'bafyreiczmn3sr2x4fjxnifug3emnons3hov2tmarjvlvbzqe2xbxk4iifm'
const FAILED = 'bafyreicbsbeat5tccsjau65sg7v7zihzmnqmpprjqk6vkpjxc376hikspu'
const RESUMED = 'bafyreifju56z5dfbngib2tprpkbrmlrxg4556l5h3bz6sa6n3fktems6im'
const MIXED = 'bafyreiejynrvi6i7lq4eievy53fuk7rta4zu2nfzrhsvlcgaofshfddda4'
const EMPTY = 'bafyreidmsmdkskgtczmyt2zl3k2gnenjtmfhcaaf5nghil53egq6mjcrsu'
const CHECKPOINTS_BY_RUN = {
  [DONE]: [CKPT.one, CKPT.two, CKPT.three],
  [FAILED]: [CKPT.one, CKPT.two],
  [RESUMED]: [CKPT.resumedOne, CKPT.resumedTwo],
  // Recorded as cycles 3, 1, none, 2: listed by cycle, the one without a cycle last.
  [MIXED]: [CKPT.one, CKPT.two, CKPT.three, CKPT.resumedOne],
  [EMPTY]: []
}
/** Checkpoint rows once split: those of the five runs, and the one whose `run` names a tag.set. */
const CHECKPOINT_ROWS = 12
/** The run events of the fixture's log: 5 starts, the 12 checkpoints, 3 ends and 2 failures. */
const RUN_EVENTS = 22

/** The format recorded in the (closed) store, its run records as stored, and its checkpoint rows. */
async function rawRuns (path: string): Promise<{ format: number, upgrading: boolean, records: Array<Record<string, unknown>>, rows: string[], runEvents: string[] }> {
  return await withDb(path, async (db) => ({
    format: decode<number>((await sublevel(db, 'meta').get('format'))!),
    upgrading: await sublevel(db, 'meta').get('upgrading') !== undefined,
    records: (await collect(sublevel(db, 'p-run').values())).map((value) => decode<Record<string, unknown>>(value)),
    rows: await collect(sublevel(db, 'p-run-checkpoint').keys()),
    runEvents: await collect(sublevel(db, 'p-run-event').keys())
  }))
}

/** `ls runs --json`, which names every run's checkpoints with their cycles and times. */
async function listedRuns (path: string): Promise<Array<Record<string, unknown>>> {
  const listed = await snap(['ls', 'runs', path, '--json'])
  expectOk(listed)
  return jsonLines(listed.stdout)
}

/** Each run's checkpoint snapshots, in the order `ls runs` gives them. */
function checkpointsByRun (runs: Array<Record<string, unknown>>): Record<string, string[]> {
  return Object.fromEntries(runs.map((run) => [run['run'], (run['checkpoints'] as Array<{ snapshot: string }>).map((c) => c.snapshot)]))
}

const V2 = fixtureCopySuite('format 2 store fixture', 'store-v2')

V2('ls runs, show and verify read a format 2 store\'s checkpoints from its run records and leave it format 2', async ({ copy: v2 }) => {
  const before = await dumpStore(v2)
  assert.equal(checkpointsByRun(await listedRuns(v2)), CHECKPOINTS_BY_RUN)
  const show = await snap(['show', v2, FAILED])
  expectOk(show)
  assert.match(show.stdout, /^checkpoints {3}2$/m)
  assert.match(show.stdout, new RegExp(`^ {2}cycle 2 +${CKPT.two} `, 'm'))
  expectOk(await snap(['verify', v2]), 'ok: 31 events, 7 blobs\n')
  assert.equal(await dumpStore(v2), before, 'reading changed nothing')
  assert.is((await rawRuns(v2)).format, 2)
})

V2('verify of a format 2 store names a checkpoint its run record lost', async ({ copy: v2 }) => {
  await withDb(v2, async (db) => {
    const runs = sublevel(db, 'p-run')
    for await (const [key, value] of runs.iterator()) {
      const record = decode<{ checkpoints: unknown[] }>(value)
      if (record.checkpoints.length === 3) await runs.put(key, encode({ ...record, checkpoints: record.checkpoints.slice(0, 2) }))
    }
  })
  const verify = await snap(['verify', v2])
  assert.is(verify.status, 1)
  // The third checkpoint of DONE was event 11 of the fixture's one origin, at clock 11.
  assert.is(verify.stdout, `projection checkpoints ${digestOf(DONE)}:000000000000011:${ORIGIN}:000000000000011: missing\n`)
})

V2('the first write to a format 2 store moves its checkpoints into rows and makes it the current format; runs read the same and verify passes', async ({ copy: v2 }) => {
  const listed = await listedRuns(v2)
  expectOk(await snap(['tag', v2, 'again', 'start']))
  const raw = await rawRuns(v2)
  assert.equal([raw.format, raw.upgrading], [FORMAT_VERSION, false])
  assert.is(raw.rows.length, CHECKPOINT_ROWS, 'one row per checkpoint')
  assert.ok(raw.records.every((record) => !('checkpoints' in record)), 'no run record holds checkpoints any more')
  assert.is(raw.records.length, 5, 'the record of a checkpoint alone is gone, as a rebuild keeps none')
  assert.is(raw.runEvents.length, RUN_EVENTS, 'every run event of the log is indexed by its run')
  assert.equal(await listedRuns(v2), listed, 'every run reads as it did')
  expectOk(await snap(['verify', v2]), 'ok: 32 events, 7 blobs\n')
  const upgraded = await dumpStore(v2)
  expectOk(await snap(['reindex', v2]))
  assert.equal(await dumpStore(v2), upgraded, 'a rebuild from the log gives the same rows')
})

V2('an upgrade cut short after the format was raised reads the same, verifies, and is completed by the next write', async ({ copy: v2 }) => {
  const listed = await listedRuns(v2)
  // What a killed upgrade leaves: the format raised with the note that it is unfinished, one record split
  // (its rows written with it), the others not.
  await withDb(v2, async (db) => {
    const runs = sublevel(db, 'p-run')
    const [key, value] = (await collect(runs.iterator({ limit: 1 })))[0]!
    const { checkpoints, ...rest } = decode<{ checkpoints: Array<{ at: { clock: number, origin: string, seq: number } }> }>(value)
    assert.ok(checkpoints.length > 0)
    const pad = (n: number): string => String(n).padStart(15, '0')
    await db.batch([
      { type: 'put', key: '!meta!format', value: encode(FORMAT_VERSION) },
      { type: 'put', key: '!meta!upgrading', value: encode(true) },
      ...checkpoints.map(({ at }, i) => ({ type: 'put' as const, key: `!p-run-checkpoint!${key}:${pad(at.clock)}:${at.origin}:${pad(at.seq)}`, value: encode(checkpoints[i]) })),
      { type: 'put', key: `!p-run!${key}`, value: encode(rest) }
    ])
  })
  assert.equal(await listedRuns(v2), listed, 'every run reads as it did')
  expectOk(await snap(['verify', v2]), 'ok: 31 events, 7 blobs\n')
  expectOk(await snap(['tag', v2, 'again', 'start']))
  const raw = await rawRuns(v2)
  assert.equal([raw.format, raw.upgrading, raw.rows.length], [FORMAT_VERSION, false, CHECKPOINT_ROWS])
  assert.equal(await listedRuns(v2), listed)
  expectOk(await snap(['verify', v2]), 'ok: 32 events, 7 blobs\n')
})

V2('an append refused for a missing reference leaves a format 2 store as it was', async ({ copy: v2 }) => {
  const before = await dumpStore(v2)
  await withLibrary(v2, async (store) => {
    await expectCode(appendEvents(store, [{ type: 'tag.set', body: { name: 'nowhere', target: CID.parse(blobIdOf('bytes this store never saw')) } }]), 'E_NOT_FOUND')
  })
  assert.equal(await dumpStore(v2), before)
})

V2('an export from a format 2 store, left as it is, carries the whole of a run its events start', async ({ copy: v2 }) => {
  const from = 'bafkreihcyqj6glujvjktjf45hr4myrl7kthaxxoxtdur4s3a6wm2wnor3a'
  const car = `${v2}.car`
  expectOk(await snap(['export', v2, '-o', car, from]), undefined)
  const fresh = `${v2}-fresh`
  expectOk(await snap(['init', fresh]), undefined)
  expectOk(await snap(['merge', fresh, car]), undefined)
  const shown = await snap(['show', fresh, DONE, '--json'])
  expectOk(shown, undefined)
  const run = JSON.parse(shown.stdout) as { status: string, checkpoints: unknown[] }
  assert.equal([run.status, run.checkpoints.length], ['completed', 3])
  assert.is((await rawRuns(v2)).format, 2, 'an export only reads')
})

V2.run()
