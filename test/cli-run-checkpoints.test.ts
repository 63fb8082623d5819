import { chmod, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { cycleOf } from '../src/runs/checkpoints.ts'
import { blobIdOf, expectError, expectOk, jsonLines, lines, seed, snap } from './_helpers/cli.ts'
import { checkpointsOf, hook, runsContext, runsIn, startCli, waitFor } from './_helpers/runs.ts'
import { holdStoreOpen, specSuite } from './_helpers/store.ts'
import type { Run } from './_helpers/cli.ts'
import type { LiveCli, RunsContext } from './_helpers/runs.ts'

// Simulations written as small shell scripts, each doing one thing real codes do with their checkpoints.

/** Writes an executable shell script into the test's directory and returns its path. */
async function script (dir: string, name: string, body: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `#!/bin/sh\nset -e\nd="$SNAPSTORE_CHECKPOINTS"\n${body}\n`)
  await chmod(path, 0o755)
  return path
}

/** The snapshots of the one run in `store` that has the label, in the order the run lists them, as blob ids. */
async function checkpointIds (store: string, label: string): Promise<Array<{ snapshot: string, cycle: number | null }>> {
  const run = (await runsIn(store)).find((r) => r['label'] === label)
  assert.ok(run !== undefined, `a run labelled ${label}`)
  return checkpointsOf(run).map(({ snapshot, cycle }) => ({ snapshot, cycle }))
}

/** Waits until the simulation has created the file at `path` (its way of saying it reached a point). */
async function fileAppears (path: string, what: string): Promise<void> {
  await waitFor(what, async () => await stat(path).then(() => true, () => undefined))
}

/** Starts the CLI with `args`, sends it SIGINT once the simulation has created `path` (its way of saying it reached a point), and returns how it ended. */
async function interruptWhen (args: string[], path: string, what: string): Promise<Run> {
  const live = startCli(args)
  try {
    await fileAppears(path, what)
    live.signal('SIGINT')
    return await live.done
  } finally {
    await live.cleanUp()
  }
}

/**
 * Starts the CLI with `args`; once the simulation has started (it creates `started`), holds the store from
 * another process, lets the simulation go on (creates `go`) and runs `whileHeld`, then releases the store.
 */
async function runWhileHeld (dir: string, store: string, args: string[], whileHeld: (live: LiveCli) => Promise<void>, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const live = startCli(args, env)
  try {
    await fileAppears(join(dir, 'started'), 'the simulation to start')
    const holder = await holdStoreOpen(store)
    try {
      await writeFile(join(dir, 'go'), '')
      await whileHeld(live)
    } finally {
      await holder.release()
    }
    return await live.done
  } finally {
    await live.cleanUp()
  }
}

const Files = specSuite<RunsContext>('snapstore run: checkpoint files as simulations write them', {} as RunsContext)
Files.before.each(hook(async (ctx) => { Object.assign(ctx, await runsContext()) }))
Files.after.each(hook(async (ctx) => { await ctx.dispose() }))

Files('the cycle of a checkpoint is the last number of its name before its extensions', () => {
  assert.equal(['ckpt-0042.dcd', 'ckpt_12.h5', 'state.tar.bz2', 'frame-7.xtc.gz', 'run3.ckpt.17', 'equilibrated.state'].map(cycleOf), [42, 12, undefined, 7, 17, undefined])
})

Files('a name the simulation renames each new checkpoint onto records every checkpoint', async ({ dir, store }) => {
  const sim = await script(dir, 'same-name.sh', `
for i in 1 2 3; do echo "state $i" > "$d/.next"; mv "$d/.next" "$d/state.cpt"; sleep 0.7; done
echo final > "$SNAPSTORE_OUTPUT"`)
  expectOk(await snap(['run', store, '--label', 'same-name', '--', sim]))
  assert.equal(await checkpointIds(store, 'same-name'), [1, 2, 3].map((i) => ({ snapshot: blobIdOf(`state ${i}\n`), cycle: null })))
})

Files('checkpoints moved in together are recorded in the order of the numbers in their names', async ({ dir, store }) => {
  // All twelve renames happen within a few milliseconds, highest number first.
  const sim = await script(dir, 'burst.sh', `
node -e '
const fs = require("fs"), d = process.env.SNAPSTORE_CHECKPOINTS
const order = [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
for (const n of order) fs.writeFileSync(d + "/.c" + n, "state " + n)
for (const n of order) fs.renameSync(d + "/.c" + n, d + "/ck-" + n)'
echo final > "$SNAPSTORE_OUTPUT"`)
  expectOk(await snap(['run', store, '--', sim]))
  const log = await snap(['log', store, '--type', 'run.checkpoint', '--json'])
  expectOk(log)
  const recorded = jsonLines(log.stdout).map((e) => (e['body'] as { cycle: number }).cycle)
  assert.equal(recorded, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
})

Files('checkpoints removed by the simulation while the store is held elsewhere are still stored', async ({ dir, store }) => {
  // Keeps only its newest checkpoints, as rolling-checkpoint codes do, while another process holds the store.
  const sim = await script(dir, 'rolling.sh', `
touch "${join(dir, 'started')}"
while [ ! -e "${join(dir, 'go')}" ]; do sleep 0.05; done
echo one > "$d/.next"; mv "$d/.next" "$d/ckpt-1"
echo two > "$d/.next"; mv "$d/.next" "$d/ckpt-2"
sleep 0.5; rm "$d/ckpt-1" "$d/ckpt-2"; touch "${join(dir, 'removed')}"
echo final > "$SNAPSTORE_OUTPUT"`)
  const result = await runWhileHeld(dir, store, ['run', store, '--wait', '30', '--label', 'rolling', '--', sim], async () => {
    await fileAppears(join(dir, 'removed'), 'the checkpoints to be removed')
  })
  expectOk(result)
  assert.equal(await checkpointIds(store, 'rolling'), [{ snapshot: blobIdOf('one\n'), cycle: 1 }, { snapshot: blobIdOf('two\n'), cycle: 2 }])
})

Files('a symbolic link in the checkpoint directory is not a checkpoint of its own', async ({ dir, store }) => {
  const sim = await script(dir, 'latest.sh', `
echo one > "$d/.next"; mv "$d/.next" "$d/ckpt-1"; ln -s ckpt-1 "$d/latest.ckpt"
echo final > "$SNAPSTORE_OUTPUT"`)
  expectOk(await snap(['run', store, '--label', 'latest', '--', sim]))
  assert.equal(await checkpointIds(store, 'latest'), [{ snapshot: blobIdOf('one\n'), cycle: 1 }])
})

Files('a directory in the checkpoint directory is skipped and the run completes', async ({ dir, store }) => {
  const sim = await script(dir, 'frames.sh', `
mkdir "$d/frames"; echo frame > "$d/frames/f1"
echo one > "$d/.next"; mv "$d/.next" "$d/ckpt-1"
echo final > "$SNAPSTORE_OUTPUT"`)
  expectOk(await snap(['run', store, '--label', 'frames', '--', sim]))
  assert.equal(await checkpointIds(store, 'frames'), [{ snapshot: blobIdOf('one\n'), cycle: 1 }])
  assert.is((await runsIn(store))[0]?.['status'], 'completed')
})

Files('resume starts from the checkpoint of highest cycle, whatever the order of names and extensions', async ({ dir, store }) => {
  const sim = await script(dir, 'burst.sh', `
mkdir "$d/../scratch"
echo equilibrated > "$d/../scratch/equilibrated.state"
for i in 9 10 12; do echo "prod $i" > "$d/../scratch/ckpt_$i.h5"; done
mv "$d"/../scratch/* "$d"/
exit 3`)
  const failed = await snap(['run', store, '--label', 'burst', '--', sim])
  assert.is(failed.status, 3)
  assert.equal((await checkpointIds(store, 'burst')).map((c) => c.cycle), [9, 10, 12, null])
  const resumer = await script(dir, 'resumer.sh', 'cat "$SNAPSTORE_INPUT" > "$SNAPSTORE_OUTPUT"')
  const [first] = await runsIn(store)
  const resumed = await snap(['resume', store, String(first?.['run']), '--', resumer])
  expectOk(resumed)
  const second = (await runsIn(store)).find((run) => run['continues'] === first?.['run'])
  assert.is(second?.['from'], blobIdOf('prod 12\n'))
})

Files('a store held by another process longer than --wait while a checkpoint is stored delays the record, and loses nothing', async ({ dir, store }) => {
  const sim = await script(dir, 'held.sh', `
touch "${join(dir, 'started')}"
while [ ! -e "${join(dir, 'go')}" ]; do sleep 0.05; done
echo one > "$d/.next"; mv "$d/.next" "$d/ckpt-1"
sleep 0.3
echo final > "$SNAPSTORE_OUTPUT"`)
  // Held for twice --wait while the checkpoint waits to be recorded.
  expectOk(await runWhileHeld(dir, store, ['run', store, '--wait', '1', '--label', 'held', '--', sim], async () => { await new Promise((resolve) => setTimeout(resolve, 2000)) }))
  assert.equal(await checkpointIds(store, 'held'), [{ snapshot: blobIdOf('one\n'), cycle: 1 }])
})

Files('a simulation that writes its state and exits 0 on SIGTERM is recorded interrupted, exits 143, and its state is its last checkpoint', async ({ dir, store }) => {
  const sim = await script(dir, 'trap.sh', `
trap 'echo stopped > "$SNAPSTORE_OUTPUT"; exit 0' TERM
echo one > "$d/.next"; mv "$d/.next" "$d/ckpt-1"
while true; do sleep 0.05; done`)
  const live = startCli(['run', store, '--label', 'trap', '--', sim])
  try {
    await waitFor('the first checkpoint', async () => {
      const listed = await snap(['ls', 'runs', store, '--json'])
      const [run] = listed.status === 0 ? jsonLines(listed.stdout) : []
      return run !== undefined && checkpointsOf(run).length > 0 ? true : undefined
    })
    live.signal('SIGTERM')
    const result = await live.done
    assert.is(result.status, 143)
  } finally {
    await live.cleanUp()
  }
  const [run] = await runsIn(store)
  assert.is(run?.['status'], 'interrupted')
  assert.equal(await checkpointIds(store, 'trap'), [{ snapshot: blobIdOf('one\n'), cycle: 1 }, { snapshot: blobIdOf('stopped\n'), cycle: null }])
  assert.is((run?.['failure'] as Record<string, unknown>)['lastCheckpoint'], blobIdOf('stopped\n'))
})

Files('params with leading zeros stay text and make other runs; 2.0 and 2 are one number', async ({ dir, store }) => {
  const sim = await script(dir, 'params.sh', 'printf "%s" "$SNAPSTORE_PARAMS" > "$SNAPSTORE_OUTPUT"')
  expectOk(await snap(['run', store, '--param', 'id=007', '--param', 'T=2.0', '--', sim]))
  expectOk(await snap(['run', store, '--param', 'id=7', '--param', 'T=2.0', '--', sim]))
  const same = await snap(['run', store, '--param', 'id=007', '--param', 'T=2', '--', sim])
  assert.match(same.stderr, 'already completed')
  const runs = await runsIn(store)
  assert.equal(runs.map((run) => run['params']), [{ id: '007', T: 2 }, { id: 7, T: 2 }])
  assert.is(runs[0]?.['end'], blobIdOf('{"id":"007","T":2}'))
})

Files('params a number cannot hold exactly stay text; a param given twice is E_USAGE, in run and in sweep', async ({ dir, store }) => {
  const sim = await script(dir, 'params.sh', 'printf "%s" "$SNAPSTORE_PARAMS" > "$SNAPSTORE_OUTPUT"')
  expectOk(await snap(['run', store, '--param', 'x=1e400', '--param', 'id=12345678901234567890', '--param', 'n=9007199254740991', '--', sim]))
  assert.equal((await runsIn(store)).map((run) => run['params']), [{ x: '1e400', id: '12345678901234567890', n: 9007199254740991 }])
  expectError(await snap(['run', store, '--param', 'a=1', '--param', 'a=2', '--', sim]), 'E_USAGE')
  expectError(await snap(['sweep', store, '--param', 'a=1', '--param', 'a=2', '--', sim]), 'E_USAGE')
  expectError(await snap(['sweep', store, '--param', 'a=1,2,1', '--', sim]), 'E_USAGE')
  assert.is((await runsIn(store)).length, 1, 'nothing ran')
})

Files('a simulation that removes the staging directory, even right after each checkpoint, loses no checkpoint', async ({ dir, store }) => {
  const sim = await script(dir, 'tidy.sh', `
rmdir checkpoints-seen
# (rm -rf can race with a link made into the directory as it empties it: not the simulation's failure)
for i in 1 2 3; do echo "state $i" > "$d/.next"; mv "$d/.next" "$d/ckpt-$i"; rm -rf checkpoints-seen 2>/dev/null || true; sleep 0.1; done
echo final > "$SNAPSTORE_OUTPUT"`)
  expectOk(await snap(['run', store, '--label', 'tidy', '--', sim]))
  assert.equal(await checkpointIds(store, 'tidy'), [1, 2, 3].map((i) => ({ snapshot: blobIdOf(`state ${i}\n`), cycle: i })))
})

Files('a job directory holding checkpoints an earlier run could not store is refused with E_EXISTS, and nothing runs', async ({ dir, store }) => {
  const jobDir = join(dir, 'job')
  await mkdir(join(jobDir, 'checkpoints-seen'), { recursive: true })
  await writeFile(join(jobDir, 'checkpoints-seen', '3-ckpt-3'), 'not stored yet')
  const sim = await script(dir, 'never.sh', `touch "${join(dir, 'ran')}"`)
  expectError(await snap(['run', store, '--job-dir', jobDir, '--', sim]), 'E_EXISTS')
  assert.is(await stat(join(dir, 'ran')).then(() => true, () => false), false)
  assert.is(await readFile(join(jobDir, 'checkpoints-seen', '3-ckpt-3'), 'utf8'), 'not stored yet')
})

Files('a signal after the simulation ended stops waiting for a held store and names the job directory kept with its end state', async ({ dir, store }) => {
  const sim = await script(dir, 'quick.sh', `
touch "${join(dir, 'started')}"
while [ ! -e "${join(dir, 'go')}" ]; do sleep 0.05; done
echo final > "$SNAPSTORE_OUTPUT"; touch "${join(dir, 'done')}"`)
  const result = await runWhileHeld(dir, store, ['run', store, '--wait', '1', '--label', 'late', '--', sim], async (live) => {
    await fileAppears(join(dir, 'done'), 'the simulation to end')
    await new Promise((resolve) => setTimeout(resolve, 300))
    live.signal('SIGTERM')
    await live.done
  }, { TMPDIR: dir })
  assert.is(result.status, 1)
  const kept = /^snapstore: E_LOCKED: .*\(the run's files are kept in (\S+)\)\n$/.exec(result.stderr)
  assert.ok(kept !== null, result.stderr)
  assert.is(await readFile(join(kept[1]!, 'checkpoints-seen', 'end.snapshot'), 'utf8'), 'final\n', 'the end state is kept where no later run in that directory wipes it')
})

Files('a sweep interrupted with SIGINT starts no further point, says so, and exits 130', async ({ dir, store }) => {
  // The first point waits for the signal; any later one would end at once.
  const sim = await script(dir, 'long.sh', `
if [ -e "${join(dir, 'started')}" ]; then echo done > "$SNAPSTORE_OUTPUT"; exit 0; fi
touch "${join(dir, 'started')}"
trap 'exit 130' INT
while true; do sleep 0.05; done`)
  const ended = await interruptWhen(['sweep', store, '--param', 'T=1,2,3', '--jobs', '1', '--', sim], join(dir, 'started'), 'the first point to start')
  const runs = await runsIn(store)
  assert.equal(runs.map((run) => [run['params'], run['status']]), [[{ T: 1 }, 'interrupted']])
  assert.is(ended.status, 130)
  assert.equal(lines(ended.stdout).slice(1).map((line) => line.split('\t')[0]), ['interrupted', 'ran 0, skipped 0, failed 0, interrupted 1, not started 2'])
  assert.match(ended.stderr, '2 points of the sweep not started')
})

Files('a chain stopped by a signal while a segment\'s end state is stored records that segment and starts no other', async ({ dir, store }) => {
  // A large end state takes a moment to store: the signal comes while it is, just after CMD ended.
  const sim = await script(dir, 'big.sh', `
head -c 100000000 /dev/urandom > "$SNAPSTORE_OUTPUT"; touch "${join(dir, 'ended')}"`)
  const result = await interruptWhen(['run', store, '--segments', '3', '--', sim], join(dir, 'ended'), 'the first segment to end')
  assert.is(result.status, 130)
  assert.is((await runsIn(store)).length, 1)
})

Files('a signal before the simulation starts stops the run there: exit 130, nothing recorded, no job directory left', async ({ dir, store }) => {
  const [start] = await seed(store, [{ kind: 'snapshot', content: 'start state' }])
  const sim = await script(dir, 'never.sh', `touch "${join(dir, 'ran')}"`)
  const tmp = join(dir, 'tmp')
  await mkdir(tmp)
  // Another process holds the store, so run waits for it while reading its inputs: the signal comes then.
  const holder = await holdStoreOpen(store)
  const live = startCli(['run', store, '--wait', '30', '--from', start!, '--', sim], { TMPDIR: tmp })
  let result
  try {
    await new Promise((resolve) => setTimeout(resolve, 1500))
    live.signal('SIGINT')
    await holder.release()
    result = await live.done
  } finally {
    await holder.release()
    await live.cleanUp()
  }
  assert.equal([result.status, result.stderr], [130, 'snapstore: interrupted\n'])
  assert.equal(await readdir(tmp), [])
  assert.equal(await runsIn(store), [])
  assert.is(await stat(join(dir, 'ran')).then(() => true, () => false), false)
})

Files.run()
