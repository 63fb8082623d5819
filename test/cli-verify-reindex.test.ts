import { spawnSync } from 'node:child_process'
import { mkdir, readdir } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, join } from 'node:path'
import { CID } from 'multiformats/cid'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { decode, encode } from '../src/codec.ts'
import { appendEvents } from '../src/index.ts'
import {
  chunkDigests, cliContext, digestOf, dumpStore, expectError, expectOk, jsonLines, lines, seed, sha256Hex, snap, sublevel, tamperChunk, withDb, withLibrary
} from './_helpers/cli.ts'
import type { CliContext } from './_helpers/cli.ts'
import { rawChunks, tempDir } from './_helpers/store.ts'
import { startCli, waitFor } from './_helpers/runs.ts'

interface Ctx extends CliContext {
  ids: string[]
}

const Verify = suite<Ctx>('cli verify and reindex', {} as Ctx)
Verify.before.each(async (ctx) => {
  Object.assign(ctx, await cliContext())
  // 3 blobs, 4 events: the repeated add records nothing, the tag records one event.
  ctx.ids = await seed(ctx.store, [
    { kind: 'snapshot', content: 'state 1\n', options: { name: 'one' } },
    { kind: 'config', content: 'config 1\n' },
    { kind: 'snapshot', content: 'state 1\n' },
    { kind: 'blob', content: 'result\n', options: { tag: 'result' } }
  ])
})
Verify.after.each(async (ctx) => { await ctx.dispose() })

Verify('verify prints "ok: E events, B blobs" with the store\'s counts', async ({ store }) => {
  expectOk(await snap(['verify', store]), 'ok: 4 events, 3 blobs\n')
})

Verify('verify of an empty store prints "ok: 0 events, 0 blobs"', async () => {
  const empty = await cliContext()
  try {
    expectOk(await snap(['verify', empty.store]), 'ok: 0 events, 0 blobs\n')
  } finally {
    await empty.dispose()
  }
})

Verify('verify --json prints one report object', async ({ store }) => {
  const run = await snap(['verify', store, '--json'])
  expectOk(run)
  assert.equal(jsonLines(run.stdout), [{ ok: true, events: 4, blobs: 3, problems: [] }])
})

Verify('verify after tampering with two chunks prints one problem per blob and exits 1', async ({ store, ids }) => {
  const [state, config] = ids
  const tampered = [await tamperChunk(store, digestOf(state!)), await tamperChunk(store, digestOf(config!))]
  const run = await snap(['verify', store])
  assert.is(run.stderr, '')
  assert.is(run.status, 1)
  const problems = lines(run.stdout)
  assert.is(problems.length, 2, run.stdout)
  for (const [i, id] of [state!, config!].entries()) {
    const line = problems.find((p) => p.includes(id))
    assert.ok(line !== undefined, `no problem names ${id}: ${run.stdout}`)
    assert.ok(line.includes(digestOf(id)) && line.includes(sha256Hex(tampered[i]!)), line)
  }
  assert.not.match(run.stdout, /^ok:/m)
})

Verify('verify reports a missing chunk and exits 1', async ({ store, ids }) => {
  const [chunk] = await chunkDigests(store, ids[3]!)
  await withDb(store, async (db) => { await rawChunks(db, store).del(chunk!) })
  const run = await snap(['verify', store])
  assert.is(run.status, 1)
  assert.is(run.stderr, '')
  const problems = lines(run.stdout)
  assert.is(problems.length, 1)
  assert.ok(problems[0]!.includes(ids[3]!), problems[0])
})

Verify('reindex prints "reindexed E events", rebuilds the projections identically, and verify stays ok', async ({ store }) => {
  const before = await dumpStore(store)
  expectOk(await snap(['reindex', store]), 'reindexed 4 events\n')
  assert.equal(await dumpStore(store), before)
  expectOk(await snap(['verify', store]), 'ok: 4 events, 3 blobs\n')
})

Verify('reindex --json prints the number of events', async ({ store }) => {
  const run = await snap(['reindex', store, '--json'])
  expectOk(run)
  assert.equal(jsonLines(run.stdout), [{ events: 4 }])
})

Verify('a tampered blob projection makes verify fail, and reindex repairs it', async ({ store, ids }) => {
  const original = await dumpStore(store)
  const key = digestOf(ids[0]!)
  await withDb(store, async (db) => {
    const projections = sublevel(db, 'p-blob')
    const value = await projections.get(key)
    assert.ok(value !== undefined)
    const projection = decode<{ name: { value: string } }>(value)
    projection.name.value = 'forged'
    await projections.put(key, encode(projection))
  })
  const forged = await snap(['ls', 'snapshots', store, '--json'])
  assert.is(jsonLines(forged.stdout)[0]?.['name'], 'forged', 'ls reads the projection')

  const failed = await snap(['verify', store])
  assert.is(failed.status, 1)
  assert.is(failed.stderr, '')
  const problems = lines(failed.stdout)
  assert.is(problems.length, 1, failed.stdout)
  assert.ok(problems[0]!.includes(key), problems[0])

  expectOk(await snap(['reindex', store]), 'reindexed 4 events\n')
  expectOk(await snap(['verify', store]), 'ok: 4 events, 3 blobs\n')
  assert.equal(await dumpStore(store), original)
})

Verify('reindex of a log with a damaged event fails with E_CORRUPT before clearing anything', async ({ store }) => {
  await withDb(store, async (db) => {
    const events = sublevel(db, 'event')
    const keys: string[] = []
    for await (const key of events.keys()) keys.push(key)
    // The last event in key order: a rebuild that cleared first and checked as it went would fail only there.
    const last = keys.at(-1)!
    const bytes = Buffer.from((await events.get(last))!)
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff
    await events.put(last, bytes)
  })
  const before = await dumpStore(store)
  const failed = await snap(['reindex', store])
  assert.is(failed.status, 1)
  assert.match(failed.stderr, /^snapstore: E_CORRUPT: /)
  assert.equal(await dumpStore(store), before, 'the projections are as they were')
  expectOk(await snap(['ls', 'snapshots', store]))
})

Verify('verify lists the first 20 projection problems and counts the rest, and reindex repairs them all', async ({ store }) => {
  await seed(store, Array.from({ length: 30 }, (_, i) => ({ kind: 'snapshot' as const, content: `listed state ${i}\n` })))
  await withDb(store, async (db) => {
    const listing = sublevel(db, 'p-kind')
    for await (const key of listing.keys()) await listing.del(key)
  })
  const failed = await snap(['verify', store])
  assert.is(failed.status, 1)
  const problems = lines(failed.stdout)
  assert.is(problems.length, 21, failed.stdout)
  assert.ok(problems.slice(0, 20).every((problem) => /^projection kinds .*: missing$/.test(problem)), problems[0])
  // One listing entry per blob and kind: 31 snapshots, a config and a blob, so 13 beyond the first 20.
  assert.is(problems[20], 'projections: 13 more differences (run "snapstore reindex" to rebuild them)')
  expectOk(await snap(['reindex', store]))
  expectOk(await snap(['verify', store]), 'ok: 34 events, 33 blobs\n')
})

Verify('a deleted listing entry hides a blob from ls until reindex restores it', async ({ store, ids }) => {
  await withDb(store, async (db) => {
    const listing = sublevel(db, 'p-kind')
    for await (const key of listing.keys()) if (key.startsWith('config:')) await listing.del(key)
  })
  expectOk(await snap(['ls', 'configs', store]), '')
  const failed = await snap(['verify', store])
  assert.is(failed.status, 1)
  assert.is(lines(failed.stdout).length, 1, failed.stdout)
  expectOk(await snap(['reindex', store]), 'reindexed 4 events\n')
  expectOk(await snap(['ls', 'configs', store]), `${ids[1]}\n`)
})

// verify reads every blob, the empty one included (see the empty-blob test of cli-get).
Verify('verify lists an unreadable blob record and an unreadable version-vector entry, one line each, instead of stopping', async ({ store, ids }) => {
  const malformed = Uint8Array.from([0xff, 0x00])
  let origin = ''
  await withDb(store, async (db) => {
    await sublevel(db, 'blob').put(digestOf(ids[1]!), malformed)
    const heads = sublevel(db, 'heads')
    for await (const key of heads.keys()) origin = key
    await heads.put(origin, malformed)
  })
  const failed = await snap(['verify', store])
  assert.is(failed.status, 1)
  assert.is(failed.stderr, '')
  const problems = lines(failed.stdout)
  assert.ok(problems.some((line) => line.startsWith(`blob ${ids[1]!}: `)), failed.stdout)
  assert.ok(problems.includes(`origin ${origin}: its entry in the version vector cannot be read`), failed.stdout)
  assert.not.ok(problems.some((line) => line.startsWith(`blob ${ids[0]!}`)), 'an intact blob is not reported')
})

/** A store of the 4 events every test seeds and 40,000 tag.set events, built once for the tests that only read it. */
let longLog: Promise<CliContext> | undefined
async function storeWithLongLog (): Promise<string> {
  longLog ??= (async () => {
    const ctx = await cliContext()
    const [target] = await seed(ctx.store, [{ kind: 'snapshot', content: 'state 1\n' }, { kind: 'config', content: 'config 1\n' }, { kind: 'blob', content: 'result\n', options: { tag: 'result' } }])
    await withLibrary(ctx.store, async (library) => {
      for (let from = 0; from < 40_000; from += 1000) {
        await appendEvents(library, Array.from({ length: 1000 }, (_, i) => ({ type: 'tag.set' as const, body: { name: `tag ${from + i}`, target: CID.parse(target!) } })))
      }
    })
    return ctx
  })()
  return (await longLog).store
}
Verify.after(async () => { if (longLog !== undefined) await (await longLog).dispose() })

Verify('verify of a 40,000-event log runs in a 48 MiB heap and leaves nothing in TMPDIR: its memory does not grow with the log', async () => {
  const store = await storeWithLongLog()
  const scratch = await tempDir()
  try {
    expectOk(await snap(['verify', store], { node: ['--max-old-space-size=48'], env: { TMPDIR: scratch.dir } }), 'ok: 40004 events, 3 blobs\n')
    assert.equal(await readdir(scratch.dir), [], 'the rebuild verify compared with is removed')
  } finally {
    await scratch.dispose()
  }
})

Verify('verify interrupted with SIGINT exits 130 and removes its scratch store', async () => {
  const store = await storeWithLongLog()
  const scratch = await tempDir()
  const live = startCli(['verify', store], { TMPDIR: scratch.dir })
  try {
    await waitFor('the scratch store', async () => (await readdir(scratch.dir)).length > 0 ? true : undefined, 30)
    live.signal('SIGINT')
    const run = await live.done
    assert.is(run.status, 130, run.stderr)
    assert.is(run.stderr, 'snapstore: interrupted\n')
    assert.equal(await readdir(scratch.dir), [])
  } finally {
    await live.cleanUp()
    await scratch.dispose()
  }
})

Verify('verify removes the scratch stores that killed verifies left in TMPDIR, and only those', async ({ store }) => {
  const scratch = await tempDir()
  try {
    const exited = spawnSync(process.execPath, ['-e', '0'])
    const left = join(scratch.dir, `snapstore-verify-${exited.pid!}@${hostname()}-aB3dE9`)
    const running = join(scratch.dir, `snapstore-verify-${process.pid}@${hostname()}-aB3dE9`)
    // A temp directory shared between hosts: this one cannot tell whether that verify still runs.
    const otherHost = join(scratch.dir, `snapstore-verify-${exited.pid!}@${hostname()}x-aB3dE9`)
    for (const dir of [left, running, otherHost]) await mkdir(join(dir, 'rebuild'), { recursive: true })
    expectOk(await snap(['verify', store], { env: { TMPDIR: scratch.dir } }))
    assert.equal((await readdir(scratch.dir)).sort(), [basename(otherHost), basename(running)].sort())
  } finally {
    await scratch.dispose()
  }
})

Verify('verify with a TMPDIR that does not exist fails with E_BAD_INPUT naming it, and changes nothing', async ({ store }) => {
  const before = await dumpStore(store)
  const failed = await snap(['verify', store], { env: { TMPDIR: join(store, 'no-such-dir') } })
  assert.is(expectError(failed, 'E_BAD_INPUT'), `Cannot create a scratch store for the rebuild in "${join(store, 'no-such-dir')}": no such file or directory (set TMPDIR to a writable directory)`)
  assert.equal(await dumpStore(store), before)
})

Verify('verify counts an empty blob and stays ok', async ({ store }) => {
  await seed(store, [{ kind: 'blob', content: '' }])
  expectOk(await snap(['verify', store]), 'ok: 5 events, 4 blobs\n')
})

Verify.run()
