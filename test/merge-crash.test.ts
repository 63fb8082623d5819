import { spawn } from 'node:child_process'
import * as assert from 'uvu/assert'
import { appendEvents, closeStore, initStore, listBlobIds, openStore, putBlob, verifyStore } from '../src/index.ts'
import { Workspace, collect, eventDigests, guardedSuite, seededBytes } from './_helpers/merge.ts'
import { CLI, runCli } from './_helpers/store.ts'
import type { EventDraft } from '../src/index.ts'

const BLOBS = 300
const BLOB_SIZE = 64 * 1024
/**
 * Moments after `snapstore merge` starts at which it is killed. On this 2-core machine the merge opens its stores
 * in about 0.5 s and copies blobs in 8 MiB batches until about 1.3 s: the kills land before, between and after the
 * batches. Nothing depends on where a kill lands; the delays only spread the kills.
 */
const KILL_AFTER_MS = [150, 800, 1200]

interface CrashContext {
  ws: Workspace
  source: string
  snapshots: string[]
  events: Map<string, string>
}

const Crash = guardedSuite<CrashContext>('merge killed with SIGKILL', {} as CrashContext)

// One source for every test: 300 snapshots of 64 KiB (several 8 MiB blob batches) and their events.
Crash.before(async (ctx) => {
  ctx.ws = await Workspace.create()
  ctx.source = ctx.ws.path('source')
  const store = await initStore(ctx.source)
  const drafts: EventDraft[] = []
  for (let i = 0; i < BLOBS; i++) {
    const { id } = await putBlob(store, seededBytes(BLOB_SIZE, i + 1))
    drafts.push({ type: 'blob.add', body: { blob: id, kind: 'snapshot', size: BLOB_SIZE, name: `state-${i}` } })
  }
  await appendEvents(store, drafts)
  ctx.snapshots = await collect(listBlobIds(store, 'snapshot'))
  ctx.events = await eventDigests(store)
  await closeStore(store)
  // Opening once replays the source's LevelDB log, so every merge below reads it in the same shape.
  await closeStore(await openStore(ctx.source))
})

Crash.after(async (ctx) => { await ctx.ws.dispose() })

/** Starts `snapstore merge DEST SRC` and kills it with SIGKILL after `ms` (or lets it finish first). */
async function killMergeAfter (dest: string, source: string, ms: number): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'merge', dest, source], { stdio: 'ignore' })
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()))
  const timer = setTimeout(() => child.kill('SIGKILL'), ms)
  await exited
  clearTimeout(timer)
}

for (const ms of KILL_AFTER_MS) {
  Crash(`a merge killed after ${ms} ms leaves whole events only, and running it again completes it`, async ({ ws, source, snapshots, events }) => {
    const dest = ws.path(`dest-${ms}`)
    await closeStore(await initStore(dest))
    await killMergeAfter(dest, source, ms)

    const store = await openStore(dest)
    try {
      const report = await verifyStore(store)
      assert.equal(report.problems, [], 'the destination verifies after the kill')
      assert.ok(report.ok)
      for (const [key, digest] of await eventDigests(store)) {
        if (key.startsWith(store.origin)) continue
        assert.is(digest, events.get(key), `event ${key} is a whole event of the source`)
      }
      const listed = await collect(listBlobIds(store, 'snapshot'))
      assert.equal(listed, snapshots.slice(0, listed.length), 'the snapshots listed are a prefix of the source\'s')
    } finally {
      await closeStore(store)
    }

    const again = await runCli(['merge', dest, source])
    assert.is(again.stderr, '')
    assert.is(again.status, 0)
    assert.match(again.stdout, /^merged \d+ events, \d+ blobs \(\d+ bytes\) from /)

    const done = await openStore(dest)
    try {
      const report = await verifyStore(done)
      assert.equal(report.problems, [], 'the destination verifies after the merge completed')
      assert.equal(await collect(listBlobIds(done, 'snapshot')), snapshots, 'every snapshot of the source, in the same order')
      const copied = await eventDigests(done)
      for (const [key, digest] of events) assert.is(copied.get(key), digest, `event ${key} was merged`)
    } finally {
      await closeStore(done)
    }
  })
}

Crash.run()
