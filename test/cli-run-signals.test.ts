import * as assert from 'uvu/assert'
import { verifyStore } from '../src/index.ts'
import { digestOf, expectError, expectOk, jsonLines, lines, snap, withLibrary } from './_helpers/cli.ts'
import { blobIn, checkpointsOf, envDumpCommand, eventsIn, hook, lastHashes, runsContext, runsIn, startCli, toyCommand, waitFor } from './_helpers/runs.ts'
import { specSuite } from './_helpers/store.ts'
import type { Run } from './_helpers/cli.ts'
import type { LiveCli, RunsContext } from './_helpers/runs.ts'

// These tests act while a run goes on: the toy sleeps between cycles (delay), and the tests poll
// the store through the CLI until the run shows the checkpoints they need, never sleeping a fixed time.

/** Polls `ls runs --status running --json` until the one running run has at least `count` checkpoints. */
async function runningWith (store: string, count: number): Promise<{ run: Record<string, unknown>, polls: Run[] }> {
  const polls: Run[] = []
  const run = await waitFor(`a running run with ${count} checkpoints`, async () => {
    const listed = await snap(['ls', 'runs', store, '--status', 'running', '--json'])
    polls.push(listed)
    if (listed.status !== 0) return undefined
    const [found] = jsonLines(listed.stdout)
    return found !== undefined && checkpointsOf(found).length >= count ? found : undefined
  })
  return { run, polls }
}

// ---------------------------------------------------------------- SIGTERM, and reading the store during a run

interface TermContext extends RunsContext {
  live: LiveCli
  running: Record<string, unknown>
  polls: Run[]
  shown: Run
  log: Run
  result: Run
}

const Term = specSuite<TermContext>('snapstore run: SIGTERM, and reading a store while a run writes to it', {} as TermContext)
Term.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  ctx.live = startCli(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=100', '--param', 'delay=100', '--', ...toyCommand], { TMPDIR: ctx.dir })
  try {
    const { run, polls } = await runningWith(ctx.store, 2)
    ctx.running = run
    ctx.polls = polls
    ;[ctx.shown, ctx.log] = await Promise.all([snap(['show', ctx.store, String(run['run'])]), snap(['log', ctx.store, '--run', String(run['run'])])])
    ctx.live.signal('SIGTERM')
    ctx.result = await ctx.live.done
  } finally {
    await ctx.live.cleanUp()
  }
}))
Term.after(hook(async (ctx) => { await ctx.dispose() }))

Term('ls runs of a store lists the run as running while the run writes to it', ({ polls, running }) => {
  for (const poll of polls) {
    assert.is(poll.status, 0, `ls runs during the run: ${poll.stderr}`)
    assert.is(poll.stderr, '')
  }
  assert.is(running['status'], 'running')
  assert.is(running['stale'], false)
  assert.is(running['end'], null)
})

Term('show RUN and log --run RUN work while the run goes on', ({ shown, log, running }) => {
  expectOk(shown)
  assert.match(shown.stdout, /^status\s+running$/m)
  expectOk(log)
  const types = lines(log.stdout).map((line) => line.split(' ')[3])
  assert.is(types[0], 'run.start')
  assert.ok(types.filter((type) => type === 'run.checkpoint').length >= checkpointsOf(running).length)
  assert.not.ok(types.includes('run.end') || types.includes('run.fail'), 'the run has not ended yet')
})

Term('SIGTERM to snapstore is passed to CMD, and run exits non-zero without a hashes line', ({ result }) => {
  // The toy does not catch SIGTERM: had snapstore not passed it on, the toy would have gone on for all 100 cycles.
  assert.is(result.status, 128 + 15, 'CMD died of SIGTERM, so run exits 128 + 15')
  assert.not.ok(lines(result.stdout).includes('toy-sim: done'), 'CMD did not finish')
  assert.not.match(result.stdout, 'Run start and end hashes')
})

Term('the run is recorded interrupted, with the signal and its last checkpoint', async ({ store, running }) => {
  const [run] = await runsIn(store)
  assert.is(run?.['run'], running['run'])
  assert.is(run?.['status'], 'interrupted')
  const checkpoints = checkpointsOf(run!)
  assert.equal(run?.['failure'], { reason: 'interrupted', exitCode: null, signal: 'SIGTERM', lastCheckpoint: checkpoints.at(-1)?.snapshot })
  assert.ok(checkpoints.length >= checkpointsOf(running).length, 'the checkpoints stored before the signal are kept')
  const fail = (await eventsIn(store)).find((e) => e.type === 'run.fail')
  assert.is(fail?.body['lastCheckpoint'], checkpoints.at(-1)?.snapshot, 'run.fail names the last checkpoint')
  const listed = await snap(['ls', 'runs', store, '--status', 'interrupted'])
  expectOk(listed, `${String(running['run'])}\n`)
})

Term.run()

// ---------------------------------------------------------------- SIGKILL, stale runs and resume

interface KillContext extends RunsContext {
  killed: string
  seenCheckpoints: number
  whileAlive: Run
  killedStatus: { status: number | null, signal: NodeJS.Signals | null }
  stale: Run
  running: Run
  before: Record<string, unknown>
  resumed: Run
}

const Kill = specSuite<KillContext>('snapstore run: SIGKILL of the wrapper, stale runs and resume', {} as KillContext)
Kill.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  const live = startCli(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=100', '--param', 'delay=100', '--seed', '1234', '--', ...toyCommand], { TMPDIR: ctx.dir })
  try {
    const { run } = await runningWith(ctx.store, 2)
    ctx.killed = String(run['run'])
    ctx.seenCheckpoints = checkpointsOf(run).length
    ctx.whileAlive = await snap(['resume', ctx.store, ctx.killed, '--', ...envDumpCommand])
    live.signal('SIGKILL')
    ctx.killedStatus = await live.exited
  } finally {
    // The toy lives on after its wrapper is SIGKILLed; stop it.
    await live.cleanUp()
  }
  ;[ctx.stale, ctx.running] = await Promise.all([
    snap(['ls', 'runs', ctx.store, '--status', 'stale']),
    snap(['ls', 'runs', ctx.store, '--status', 'running'])
  ])
  ctx.before = (await runsIn(ctx.store))[0]!
  ctx.resumed = await snap(['resume', ctx.store, ctx.killed, '--', ...envDumpCommand])
}))
Kill.after(hook(async (ctx) => { await ctx.dispose() }))

Kill('resume of a run whose wrapper is alive on this host is refused with E_LOCKED', ({ whileAlive, killed }) => {
  assert.match(expectError(whileAlive, 'E_LOCKED'), killed)
})

Kill('a run whose wrapper was SIGKILLed stays running, and ls runs --status stale lists it', ({ killedStatus, stale, running, killed, before }) => {
  assert.is(killedStatus.signal, 'SIGKILL')
  expectOk(stale, `${killed}\n`)
  expectOk(running, `${killed}\n`)
  assert.equal([before['status'], before['stale'], before['end'], before['failure']], ['running', true, null, null])
})

Kill('the checkpoints stored before the SIGKILL are kept, whole', async ({ store, seenCheckpoints, before }) => {
  const checkpoints = checkpointsOf(before)
  assert.ok(checkpoints.length >= seenCheckpoints, `${checkpoints.length} checkpoints kept, ${seenCheckpoints} seen before the kill`)
  assert.equal(checkpoints.map((c) => c.cycle), checkpoints.map((_, i) => i + 1), 'cycles 1, 2, … in order')
  for (const checkpoint of checkpoints) {
    const bytes = await blobIn(store, checkpoint.snapshot)
    assert.ok(bytes.toString('utf8').endsWith('\n'), 'a checkpoint holds a whole toy state')
    assert.is(lines(bytes.toString('utf8')).length, 1 + Number(checkpoint.cycle), 'one line per cycle after the start state')
  }
})

Kill('resume starts a new run that continues the killed one from its last checkpoint with the same params and seed', async ({ store, killed, before, resumed }) => {
  expectOk(resumed)
  const last = checkpointsOf(before).at(-1)!.snapshot
  assert.is(lastHashes(resumed.stdout).start, last)
  const runs = await runsIn(store)
  assert.is(runs.length, 2)
  const next = runs[1]!
  assert.equal([next['continues'], next['from'], next['params'], next['seed'], next['status']],
    [killed, last, before['params'], '1234', 'completed'])
  const shown = await snap(['show', store, String(next['run']), '--json'])
  expectOk(shown)
  const [json] = jsonLines(shown.stdout)
  assert.equal([json?.['continues'], json?.['from'], json?.['params'], json?.['seed']], [killed, last, { cycles: 100, delay: 100 }, '1234'])
})

Kill('CMD of the resumed run gets the last checkpoint as SNAPSTORE_INPUT and the same seed and params', async ({ store, before, resumed }) => {
  const report = JSON.parse((await blobIn(store, lastHashes(resumed.stdout).end)).toString('utf8')) as { env: Record<string, string>, input: string }
  assert.is(report.input, digestOf(checkpointsOf(before).at(-1)!.snapshot))
  assert.is(report.env['SNAPSTORE_SEED'], '1234')
  assert.equal(JSON.parse(report.env['SNAPSTORE_PARAMS']!), { cycles: 100, delay: 100 })
})

Kill('a resumed run no longer shows as running or stale', async ({ store, killed }) => {
  // A run whose wrapper died "shows as running until resumed".
  const [old] = await runsIn(store, { status: 'stale' })
  assert.is(old?.['run'], undefined, `run ${killed} was resumed, yet ls runs --status stale still lists it`)
  assert.equal((await runsIn(store, { status: 'running' })).map((r) => r['run']), [])
})

Kill('the store verifies after a SIGKILL and a resume: projections equal a rebuild from the log', async ({ store }) => {
  const report = await withLibrary(store, async (s) => await verifyStore(s))
  assert.ok(report.ok, report.problems.join('; '))
})

Kill.run()
