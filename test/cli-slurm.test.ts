import { readdir, readFile } from 'node:fs/promises'
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import * as assert from 'uvu/assert'
import { expectError, expectOk, lines, seed, snap } from './_helpers/cli.ts'
import { blobIn, hook, runsContext, runsIn, START_STATE, toyCommand, toyOutput } from './_helpers/runs.ts'
import { jobStates, startSlurm, waitForJobs, whyNoSlurm } from './_helpers/slurm.ts'
import { specSuite } from './_helpers/store.ts'
import type { Run } from './_helpers/cli.ts'
import type { RunsContext } from './_helpers/runs.ts'
import type { LocalSlurm } from './_helpers/slurm.ts'

/** A submission as `sweep` or `run --segments` printed it: the jobs, where the job stores are, the merge job. */
interface Printed {
  run: Run
  jobs: string[]
  dir: string
  mergeJob: string
}

/** Reads the job ids, the job-store folder and the merge job from a submission's stdout. */
function printed (run: Run): Printed {
  expectOk(run)
  const out = lines(run.stdout)
  const dir = out.map((line) => /^job stores under (.+)$/.exec(line)?.[1]).find(Boolean)
  const mergeJob = out.map((line) => /^slurm job (\d+) merges them into .+ when every job has ended$/.exec(line)?.[1]).find(Boolean)
  assert.ok(dir !== undefined && mergeJob !== undefined, `a submission names its job stores and merge job: ${run.stdout}`)
  const jobs = out.flatMap((line) => {
    const segment = /^submitted segment \d\d as slurm job (\d+)/.exec(line)?.[1]
    const task = /^submitted\t(\d+_\d+)\t/.exec(line)?.[1]
    return segment ?? task ?? []
  })
  return { run, jobs, dir, mergeJob }
}

/** JSON with object keys in order, for comparing params whatever order they were recorded in. */
function sortedJson (value: unknown): string {
  return JSON.stringify(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
}

/** A segment that fails (exit 3) when its seed is 60101 (trajectory 1, step 1), and otherwise runs the toy simulation. */
const failingAtStepOne = ['/bin/sh', '-c', 'if [ "$SNAPSTORE_SEED" = 60101 ]; then echo "step 1 fails, as it\'s told" >&2; exit 3; fi; exec "$0" "$@"', ...toyCommand]

interface SlurmContext {
  slurm: LocalSlurm
  sweep: RunsContext & { submitted: Printed }
  chain: RunsContext & { submitted: Printed }
  failing: RunsContext & { submitted: Printed }
  later: RunsContext & { submitted: Run }
}

const why = whyNoSlurm()
if (why !== undefined) console.log(`slurm tests skipped: ${why}`)
const Slurm = specSuite<SlurmContext>(why === undefined
  ? 'snapstore on a real single-node Slurm: sweeps as job arrays, chains as dependent jobs, merged home'
  : `snapstore on Slurm: SKIPPED, ${why}`, {} as SlurmContext)

if (why !== undefined) {
  Slurm.skip('sweeps and segment chains on Slurm', () => undefined)
} else {
  Slurm.before(hook(async (ctx) => {
    ctx.slurm = await startSlurm()
    const env = ctx.slurm.env
    const [sweep, chain, failing, later] = await Promise.all([runsContext(), runsContext(), runsContext(), runsContext()])
    // The three submissions go in together so that their jobs share the cluster's time.
    const [sweepRun, chainRun, failingRun, laterRun] = await Promise.all([
      snap(['sweep', sweep.store, '--from', sweep.start, '--param', 'cycles=1,2', '--param', 'x=a,b', '--on', 'slurm', '--', ...toyCommand], { env }),
      snap(['run', chain.store, '--from', chain.start, '--segments', '3', '--trajectory', '1', '--seed-base', '6', '--param', 'cycles=2', '--on', 'slurm', '--time', '5', '--', ...toyCommand], { env }),
      snap(['run', failing.store, '--from', failing.start, '--segments', '3', '--trajectory', '1', '--seed-base', '6', '--param', 'cycles=1', '--on', 'slurm', '--', ...failingAtStepOne], { env }),
      snap(['run', later.store, '--from', later.start, '--segments', '1', '--param', 'cycles=1', '--on', 'slurm', '--no-merge', '--', ...toyCommand], { env })
    ])
    ctx.sweep = { ...sweep, submitted: printed(sweepRun) }
    ctx.chain = { ...chain, submitted: printed(chainRun) }
    ctx.failing = { ...failing, submitted: printed(failingRun) }
    ctx.later = { ...later, submitted: laterRun }
    const laterJob = /^submitted segment 00 as slurm job (\d+)$/m.exec(laterRun.stdout)?.[1]
    await waitForJobs(ctx.slurm, [...[ctx.sweep, ctx.chain, ctx.failing].flatMap(({ submitted }) => [...submitted.jobs, submitted.mergeJob]), ...(laterJob === undefined ? [] : [laterJob])])
  }))
  Slurm.after(hook(async (ctx) => {
    await ctx.slurm?.stop()
    await Promise.all([ctx.sweep, ctx.chain, ctx.failing, ctx.later].map(async (c) => await c?.dispose()))
  }))

  Slurm('sweep --on slurm submits the four points as one job array, and a merge job after any ending of it', async ({ sweep }) => {
    const { run, jobs, dir, mergeJob } = sweep.submitted
    const out = lines(run.stdout)
    assert.is(out[0], 'status\tjob\trun\tend\tparams')
    const array = jobs[0]!.split('_')[0]!
    assert.equal(jobs, [0, 1, 2, 3].map((task) => `${array}_${task}`))
    assert.equal(out.slice(1, 5).map((line) => JSON.parse(line.split('\t')[4]!) as unknown), [{ cycles: 1, x: 'a' }, { cycles: 1, x: 'b' }, { cycles: 2, x: 'a' }, { cycles: 2, x: 'b' }])
    assert.is(out.at(-1), 'ran 0, skipped 0, failed 0, submitted 4')
    assert.ok(dir.startsWith(join(sweep.store, 'jobs', 'sweep-')), `job stores go under STORE/jobs: ${dir}`)
    assert.match(await readFile(join(dir, 'snapstore-sweep.sh'), 'utf8'), /sbatch --parsable .*--array=0-3 /)
    assert.match(await readFile(join(dir, 'snapstore-merge.sh'), 'utf8'), new RegExp(`--dependency=afterany:${array} --kill-on-invalid-dep=yes `))
    assert.ok(Number(mergeJob) > Number(array))
  })

  Slurm('after the merge job, the master holds every point as a completed run recorded with its array task', async ({ sweep }) => {
    const runs = await runsIn(sweep.store)
    const byParams = new Map(runs.map((r) => [sortedJson(r['params']), r]))
    const rows = lines(sweep.submitted.run.stdout).slice(1, 5).map((line) => line.split('\t'))
    assert.is(runs.length, 4)
    for (const [, job, , , params] of rows) {
      const recorded = byParams.get(sortedJson(JSON.parse(params!)))
      assert.ok(recorded !== undefined, `a run for ${params}`)
      assert.is(recorded['status'], 'completed')
      assert.equal(recorded['scheduler'], { name: 'slurm', job })
      assert.is(recorded['from'], sweep.start)
    }
  })

  Slurm('a memoised re-sweep submits nothing and lists every point as skipped with its run', async ({ sweep, slurm }) => {
    const before = await readdir(join(sweep.store, 'jobs'))
    const again = await snap(['sweep', sweep.store, '--from', sweep.start, '--param', 'cycles=1,2', '--param', 'x=a,b', '--on', 'slurm', '--', ...toyCommand], { env: slurm.env })
    expectOk(again)
    const out = lines(again.stdout)
    const ids = new Set((await runsIn(sweep.store)).map((r) => r['run']))
    assert.equal(out.slice(1, 5).map((line) => line.split('\t').slice(0, 2)), [['skipped', '-'], ['skipped', '-'], ['skipped', '-'], ['skipped', '-']])
    assert.ok(out.slice(1, 5).every((line) => ids.has(line.split('\t')[2])), 'each skipped point names its completed run')
    assert.is(out.at(-1), 'ran 0, skipped 4, failed 0, submitted 0')
    assert.equal(await readdir(join(sweep.store, 'jobs')), before, 'no new submission folder')
  })

  Slurm('run --segments 3 --on slurm submits a job per segment, each after the one before succeeds, killed if it cannot', async ({ chain }) => {
    const { run, jobs, dir } = chain.submitted
    assert.is(jobs.length, 3)
    assert.equal(lines(run.stdout).slice(0, 3), [
      `submitted segment 00 as slurm job ${jobs[0]!}`,
      `submitted segment 01 as slurm job ${jobs[1]!}, after job ${jobs[0]!} succeeds`,
      `submitted segment 02 as slurm job ${jobs[2]!}, after job ${jobs[1]!} succeeds`
    ])
    assert.match(await readFile(join(dir, 'snapstore-segment-01.sh'), 'utf8'), new RegExp(`--dependency=afterok:${jobs[0]!} --kill-on-invalid-dep=yes `))
    assert.match(await readFile(join(dir, 'snapstore-segment-02.sh'), 'utf8'), new RegExp(`--dependency=afterok:${jobs[1]!} --kill-on-invalid-dep=yes `))
    assert.match(await readFile(join(dir, 'snapstore-merge.sh'), 'utf8'), new RegExp(`--dependency=afterany:${jobs.join(':')} --kill-on-invalid-dep=yes `))
    assert.match(await readFile(join(dir, 'snapstore-segment-00.sh'), 'utf8'), / --time=5 /)
  })

  Slurm('the chain comes home with its lineage intact: each segment starts from the end of the one before', async ({ chain }) => {
    const runs = await runsIn(chain.store)
    assert.equal(runs.map((r) => [r['status'], r['batch'], r['seed']]), [['completed', '00', '60100'], ['completed', '01', '60101'], ['completed', '02', '60102']])
    assert.is(runs[0]!['from'], chain.start)
    assert.is(runs[1]!['from'], runs[0]!['end'])
    assert.is(runs[2]!['from'], runs[1]!['end'])
    const end = runs[2]!['end'] as string
    assert.equal(await blobIn(chain.store, end), toyOutput(toyOutput(toyOutput(START_STATE, 2), 2), 2))
    const lineage = await snap(['show', chain.store, end, '--lineage', '--json'])
    expectOk(lineage)
    const { root, steps } = JSON.parse(lineage.stdout) as { root: string, steps: Array<{ run: string }> }
    assert.is(root, chain.start)
    assert.equal(steps.map((s) => s.run), runs.map((r) => r['run']))
  })

  Slurm('show names the Slurm job each segment ran in, as run.start recorded it', async ({ chain }) => {
    const runs = await runsIn(chain.store)
    assert.equal(runs.map((r) => r['scheduler']), chain.submitted.jobs.map((job) => ({ name: 'slurm', job })))
    const shown = await snap(['show', chain.store, runs[1]!['run'] as string])
    expectOk(shown)
    assert.ok(lines(shown.stdout).some((line) => new RegExp(`^job +slurm ${chain.submitted.jobs[1]!}$`).test(line)), shown.stdout)
  })

  Slurm('a failing segment cancels the segments after it: they never run, and the master shows the failure', async ({ failing, slurm }) => {
    const { jobs, dir } = failing.submitted
    const runs = await runsIn(failing.store)
    assert.equal(runs.map((r) => [r['batch'], r['status']]), [['00', 'completed'], ['01', 'failed']])
    assert.equal(runs[1]!['failure'], { reason: 'exit code 3', exitCode: 3, signal: null, lastCheckpoint: null })
    assert.equal(await jobStates(slurm, [jobs[2]!]), ['CANCELLED'])
    assert.not.ok((await readdir(dir)).some((name) => name.startsWith('snapstore-segment-02-')), 'segment 02 never started (no output file)')
    const failed = await snap(['ls', 'runs', failing.store, '--status', 'failed'])
    expectOk(failed, `${runs[1]!['run'] as string}\n`)
  })

  Slurm('with --no-merge nothing comes home by itself: the merge.sh it names brings the job store home later', async ({ later }) => {
    const { submitted, store } = later
    expectOk(submitted)
    const out = lines(submitted.stdout)
    assert.match(out[0]!, /^submitted segment 00 as slurm job \d+$/)
    const script = /^merge them into .+ when the jobs have ended: sh (.+\/merge\.sh)$/.exec(out.at(-1)!)?.[1]
    assert.ok(script !== undefined, `it names the merge script: ${submitted.stdout}`)
    assert.not.ok((await readdir(dirname(script))).some((name) => name.startsWith('snapstore-merge')), 'no merge job was submitted')
    assert.equal(await runsIn(store), [], 'the store knows nothing of the run yet')
    const merged = spawnSync('sh', [script], { encoding: 'utf8' })
    assert.is(merged.status, 0, merged.stderr)
    assert.equal((await runsIn(store)).map((r) => r['status']), ['completed'])
  })

  Slurm('sbatch refusing a job (an unknown partition) fails with E_BAD_INPUT quoting sbatch, leaving no job folder behind', async ({ sweep, slurm }) => {
    const [config] = await seed(sweep.store, [{ kind: 'config', content: 'steps 1\n' }])
    const before = await readdir(join(sweep.store, 'jobs'))
    const refused = await snap(['sweep', sweep.store, '--from', sweep.start, '--config', config!, '--param', 'cycles=1', '--on', 'slurm', '--partition', 'nosuch', '--', ...toyCommand], { env: slurm.env })
    assert.match(expectError(refused, 'E_BAD_INPUT'), /^Cannot submit job "snapstore-sweep" to Slurm: .*[Pp]artition/)
    assert.equal(await readdir(join(sweep.store, 'jobs')), before)
  })
}

Slurm.run()

const Options = specSuite('snapstore run and sweep: the --on option and the cluster options')

Options('--on slurm where sbatch is not on PATH fails with E_BAD_INPUT and submits nothing', async () => {
  const ctx = await runsContext()
  try {
    const failed = await snap(['sweep', ctx.store, '--from', ctx.start, '--param', 'cycles=1', '--on', 'slurm', '--', ...toyCommand], { env: { PATH: '/nonexistent' } })
    assert.match(expectError(failed, 'E_BAD_INPUT'), /"sbatch" is not on PATH/)
    assert.not.ok((await readdir(ctx.store)).includes('jobs'), 'no job folder')
  } finally {
    await ctx.dispose()
  }
})

Options('cluster options are usage errors without --on slurm, or with an unknown scheduler, or on a single run', async () => {
  const ctx = await runsContext()
  try {
    const sweep = ['sweep', ctx.store, '--from', ctx.start, '--param', 'cycles=1']
    const run = ['run', ctx.store, '--from', ctx.start]
    for (const [label, args] of [
      ['--partition without --on slurm', [...sweep, '--partition', 'debug']],
      ['--no-merge without --on slurm', [...run, '--segments', '2', '--no-merge']],
      ['--on pbs', [...sweep, '--on', 'pbs']],
      ['--cpus 0', [...sweep, '--on', 'slurm', '--cpus', '0']],
      ['run --on slurm without --segments', [...run, '--on', 'slurm']],
      ['run --step with --on slurm', [...run, '--segments', '2', '--step', '1', '--on', 'slurm']]
    ] as const) expectError(await snap([...args, '--', ...toyCommand]), 'E_USAGE', label)
  } finally {
    await ctx.dispose()
  }
})

Options('sweep --help and run --help describe the cluster options', async () => {
  for (const command of ['sweep', 'run']) {
    const help = await snap([command, '--help'])
    expectOk(help)
    for (const option of ['--on <where>', '--partition <name>', '--time <limit>', '--cpus <n>', '--mem <size>', '--sbatch-arg <arg>', '--no-merge']) assert.ok(help.stdout.includes(option), `${command} --help mentions ${option}`)
  }
})

Options.run()
