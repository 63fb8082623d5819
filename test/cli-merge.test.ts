import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { basename, dirname } from 'node:path'
import { cp, readFile, writeFile } from 'node:fs/promises'
import * as assert from 'uvu/assert'
import { addBlob, appendEvents, digestHex, iterateLog, setTag, verifyStore } from '../src/index.ts'
import { exportCar } from '../src/car.ts'
import { mergeStores } from '../src/merge/merge-stores.ts'
import { assertSameState, collect, holdOpen, listing, storeState, withRawDb, workspaceSuite } from './_helpers/merge.ts'
import { bytes, rawChunks, runCli } from './_helpers/store.ts'
import type { CliResult } from './_helpers/store.ts'
import type { EventDraft } from '../src/index.ts'
import type { Workspace } from './_helpers/merge.ts'

/** Asserts a run succeeded: exit 0, nothing on stderr, and (when given) exactly this stdout. */
function expectOk (run: CliResult, stdout?: string): void {
  assert.is(run.stderr, '', 'stderr')
  assert.is(run.status, 0, 'exit status')
  if (stdout !== undefined) assert.is(run.stdout, stdout, 'stdout')
}

/** Asserts a run failed the contract's way: exit 1, nothing on stdout, one stderr line `snapstore: CODE: message`; returns the message. */
function expectError (run: CliResult, code: string): string {
  assert.is(run.stdout, '', 'nothing on stdout')
  assert.match(run.stderr, /^snapstore: E_[A-Z_]+: [^\n]+\n$/, 'one error line on stderr')
  assert.ok(run.stderr.startsWith(`snapstore: ${code}: `), run.stderr)
  assert.is(run.status, 1, 'exit status')
  return run.stderr.slice(`snapstore: ${code}: `.length, -1)
}

function merged (events: number, blobs: number, size: number, source: string): string {
  return `merged ${events} events, ${blobs} blobs (${size} bytes) from ${source}\n`
}

/** Two closed stores: `one` with snapshots of 5 and 7 bytes, `two` with the 5-byte one and a config of 3 bytes; and an empty `dest`. */
async function twoSources (ws: Workspace): Promise<{ one: string, two: string, dest: string }> {
  const one = await ws.init('one')
  await addBlob(one, 'snapshot', bytes('12345'))
  await addBlob(one, 'snapshot', bytes('1234567'))
  const two = await ws.init('two')
  await addBlob(two, 'snapshot', bytes('12345'))
  await addBlob(two, 'config', bytes('123'))
  const dest = await ws.init('dest')
  await ws.closeAll()
  return { one: one.path, two: two.path, dest: dest.path }
}

const Merge = workspaceSuite('snapstore merge')

Merge('merge DEST SRC1 SRC2 prints exactly one line per source: merged E events, B blobs (N bytes) from SRC', async ({ ws }) => {
  const { one, two, dest } = await twoSources(ws)
  expectOk(await runCli(['merge', dest, one, two]), merged(2, 2, 12, one) + merged(2, 1, 3, two))
})

Merge('merging the same sources again prints merged 0 events, 0 blobs (0 bytes) for each', async ({ ws }) => {
  const { one, two, dest } = await twoSources(ws)
  await mergeStores(await ws.open(dest), one)
  await mergeStores(await ws.open(dest), two)
  await ws.closeAll()
  expectOk(await runCli(['merge', dest, one, two]), merged(0, 0, 0, one) + merged(0, 0, 0, two))
})

Merge('merge --json prints one JSON object per source', async ({ ws }) => {
  const { one, two, dest } = await twoSources(ws)
  const run = await runCli(['merge', dest, one, two, '--json'])
  expectOk(run)
  assert.equal(run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown), [
    { source: one, events: 2, blobs: 2, bytes: 12 },
    { source: two, events: 2, blobs: 1, bytes: 3 }
  ])
})

Merge('log --merges shows the journal: one line per merge, oldest first', async ({ ws }) => {
  const { one, two, dest } = await twoSources(ws)
  for (const source of [one, two, one]) await mergeStores(await ws.open(dest), source)
  await ws.closeAll()
  const run = await runCli(['log', dest, '--merges'])
  expectOk(run)
  const time = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z'
  const lines = run.stdout.split('\n')
  assert.is(lines.pop(), '', 'ends with a newline')
  assert.equal(lines.map((line) => line.replace(new RegExp(`^${time} `), '<time> ')), [
    `<time> ${merged(2, 2, 12, one).trimEnd()}`,
    `<time> ${merged(2, 1, 3, two).trimEnd()}`,
    `<time> ${merged(0, 0, 0, one).trimEnd()}`
  ])
  assert.is((await collect(iterateLog(await ws.open(dest)))).length, 4, 'merges are not events of the log')
})

Merge('the journal records a source given by a relative path by its absolute path; the output line keeps it as given', async ({ ws }) => {
  const { one, dest } = await twoSources(ws)
  await ws.closeAll()
  const relative = basename(one)
  expectOk(await runCli(['merge', dest, relative], { cwd: dirname(one) }), merged(2, 2, 12, relative))
  const journal = await runCli(['log', dest, '--merges'])
  expectOk(journal)
  assert.match(journal.stdout, ` from ${one}\n`)
})

Merge('merge DEST DEST is a no-op that prints merged 0 events, 0 blobs (0 bytes)', async ({ ws }) => {
  const { one } = await twoSources(ws)
  const before = await storeState(ws, one)
  expectOk(await runCli(['merge', one, one]), merged(0, 0, 0, one))
  assertSameState(await storeState(ws, one), before, 'the store')
})

Merge('export STORE -o FILE.car prints exported E events, B blobs, and merge DEST FILE.car reads it', async ({ ws }) => {
  const { one, dest } = await twoSources(ws)
  const car = ws.path('one.car')
  expectOk(await runCli(['export', one, '-o', car]), 'exported 2 events, 2 blobs\n')
  expectOk(await runCli(['merge', dest, car]), merged(2, 2, 12, car))
  const copied = await listing(await ws.open(dest))
  assert.equal(copied.snapshots, (await listing(await ws.open(one))).snapshots)
  assert.is(copied.snapshots.length, 2)
  assert.equal((await verifyStore(await ws.open(dest))).problems, [])
})

Merge('export into a missing directory is E_BAD_INPUT in one line, and of a store with a damaged chunk E_CORRUPT, writing no file', async ({ ws }) => {
  const { one } = await twoSources(ws)
  assert.match(expectError(await runCli(['export', one, '-o', ws.path('no/such/dir/one.car')]), 'E_BAD_INPUT'), 'no such directory')
  // A blob this small is one chunk, whose digest is the blob's.
  const hex = createHash('sha256').update('12345').digest('hex')
  await ws.closeAll()
  await withRawDb(one, async (db) => {
    const raw = rawChunks(db, one)
    const damaged = Buffer.from((await raw.get(hex))!)
    damaged[0] = damaged[0]! ^ 0x01
    await raw.put(hex, damaged)
  })
  const car = ws.path('damaged.car')
  assert.match(expectError(await runCli(['export', one, '-o', car]), 'E_CORRUPT'), `chunk ${hex} does not match its digest`)
  assert.not.ok(existsSync(car), 'no file is left behind')
})

Merge('a store directory whose name ends in .car merges as a store', async ({ ws }) => {
  const { one, dest } = await twoSources(ws)
  await ws.closeAll()
  const named = ws.path('results.car')
  await cp(one, named, { recursive: true })
  expectOk(await runCli(['merge', dest, named]), merged(2, 2, 12, named))
})

Merge('two stores standing for two hosts each add snapshots, merge both ways, and list identically', async ({ ws }) => {
  const hosts = ['host-a', 'host-b']
  for (const [i, name] of hosts.entries()) {
    const host = await ws.init(name)
    const added = []
    for (const j of [0, 1, 2]) added.push((await addBlob(host, 'snapshot', bytes(`state ${j} computed on host ${i}\n`))).id)
    await addBlob(host, 'config', bytes('steps = 1000\n'))
    await setTag(host, 'latest', added[2]!)
  }
  await ws.closeAll()
  const [a, b] = hosts.map((name) => ws.path(name)) as [string, string]
  // Each host's three snapshots are new to the other; the config is the same bytes on both.
  const size = Buffer.byteLength('state 0 computed on host 0\n')
  expectOk(await runCli(['merge', a, b]), merged(5, 3, 3 * size, b))
  expectOk(await runCli(['merge', b, a]), merged(5, 3, 3 * size, a))
  for (const what of ['snapshots', 'tags']) {
    const fromA = await runCli(['ls', what, a])
    expectOk(fromA)
    expectOk(await runCli(['ls', what, b]), fromA.stdout)
  }
  const [onA, onB] = [await listing(await ws.open(a)), await listing(await ws.open(b))]
  assert.equal(onB, onA, 'every listing is identical')
  assert.is(onA.snapshots.length, 6)
  for (const host of [a, b]) assert.equal((await verifyStore(await ws.open(host))).problems, [])
})

Merge('merge of a store of 12,001 events (opened on a thread of their own) prints its one line, and the destination verifies', async ({ ws }) => {
  const source = await ws.init('source')
  const { id } = await addBlob(source, 'snapshot', bytes('12345'))
  await appendEvents(source, Array.from({ length: 12_000 }, (_, i): EventDraft => ({ type: 'tag.set', body: { name: `tag ${i}`, target: id } })))
  const dest = await ws.init('dest')
  await ws.closeAll()
  expectOk(await runCli(['merge', dest.path, source.path]), merged(12_001, 1, 5, source.path))
  expectOk(await runCli(['verify', dest.path]), 'ok: 12001 events, 1 blobs\n')
})

Merge('merge --dry-run says what would be copied and writes nothing', async ({ ws }) => {
  const { one, dest } = await twoSources(ws)
  const before = await storeState(ws, dest)
  const run = await runCli(['merge', dest, one, '--dry-run'])
  expectOk(run)
  assert.match(run.stdout, /2 events, 2 blobs \(12 bytes\)/)
  assert.ok(run.stdout.includes(one))
  assertSameState(await storeState(ws, dest), before, 'the destination')
})

Merge.run()

// ---------------------------------------------------------------- failures

const Failures = workspaceSuite('snapstore merge failures')

Failures('a fork gives one E_FORK line naming origin and seq, exit 1, nothing on stdout, and the destination is unchanged', async ({ ws }) => {
  const { one } = await twoSources(ws)
  const copy = ws.path('copy')
  await cp(one, copy, { recursive: true })
  await addBlob(await ws.open(one), 'snapshot', bytes('written in one'))
  await addBlob(await ws.open(copy), 'snapshot', bytes('written in the copy'))
  const origin = (await ws.open(one)).origin
  await ws.closeAll()
  const before = await storeState(ws, one)
  const message = expectError(await runCli(['merge', one, copy]), 'E_FORK')
  assert.ok(message.includes(origin), message)
  assert.ok(message.includes('seq 3'), message)
  assertSameState(await storeState(ws, one), before, 'the destination')
})

Failures('a corrupted source gives one E_CORRUPT line, exit 1, nothing on stdout, and the destination is unchanged', async ({ ws }) => {
  const { one, two, dest } = await twoSources(ws)
  await mergeStores(await ws.open(dest), two)
  const blob = digestHex((await addBlob(await ws.open(one), 'blob', bytes('to be tampered'))).id)
  await ws.closeAll()
  await withRawDb(one, async (db) => {
    const chunks = rawChunks(db, one)
    await chunks.put(blob, bytes('tampered bytes'))
  })
  const before = await storeState(ws, dest)
  expectError(await runCli(['merge', dest, one]), 'E_CORRUPT')
  assertSameState(await storeState(ws, dest), before, 'the destination')
})

Failures('a tampered CAR file gives one E_CORRUPT line, exit 1, nothing on stdout, and the destination is unchanged', async ({ ws }) => {
  const { one, dest } = await twoSources(ws)
  const car = ws.path('one.car')
  await exportCar(await ws.open(one), car)
  await ws.closeAll()
  const file = await readFile(car)
  const at = file.indexOf('1234567')
  assert.ok(at > 0)
  file[at] = file[at]! ^ 0x01
  await writeFile(car, file)
  const before = await storeState(ws, dest)
  expectError(await runCli(['merge', dest, car]), 'E_CORRUPT')
  assertSameState(await storeState(ws, dest), before, 'the destination')
})

Failures('a source another process holds open gives one E_LOCKED line after --wait', async ({ ws }) => {
  const { one, dest } = await twoSources(ws)
  const holder = await holdOpen(one)
  try {
    const message = expectError(await runCli(['merge', dest, one, '--wait', '0.3']), 'E_LOCKED')
    assert.ok(message.includes(one), message)
  } finally {
    await holder.release()
  }
})

Failures('a destination another process holds open gives one E_LOCKED line after --wait', async ({ ws }) => {
  const { one, dest } = await twoSources(ws)
  const holder = await holdOpen(dest)
  try {
    const message = expectError(await runCli(['merge', dest, one, '--wait', '0.3']), 'E_LOCKED')
    assert.ok(message.includes(dest), message)
  } finally {
    await holder.release()
  }
  assert.is((await mergeStores(await ws.open(dest), one)).events, 2, 'the merge works once the destination is released')
})

Failures.run()
