import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { dumpStore, expectOk, lines, seed, snap } from './_helpers/cli.ts'
import { blobIn, hook, lastHashes, runsContext, runsIn, START_STATE, toyCommand, toyOutput } from './_helpers/runs.ts'
import { specSuite } from './_helpers/store.ts'
import type { Run } from './_helpers/cli.ts'
import type { RunsContext } from './_helpers/runs.ts'

interface JobContext extends RunsContext {
  config: string
  job: string
  jobStore: string
  mainBefore: string[]
  mainAfter: string[]
  result: Run
  verified: Run
  jobSnapshots: Run
  jobConfigs: Run
  merged: Run
  listed: Run
  rerun: Run
}

const CONFIG = 'steps 2\n'

const Job = specSuite<JobContext>('snapstore run --job-dir: a job-local store, merged home', {} as JobContext)
Job.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  ctx.config = (await seed(ctx.store, [{ kind: 'config', content: CONFIG, options: { name: 'job.conf' } }]))[0]!
  ctx.job = join(ctx.dir, 'job-1')
  ctx.jobStore = join(ctx.job, 'checkpoint.store')
  ctx.mainBefore = await dumpStore(ctx.store)
  const args = ['run', ctx.store, '--from', ctx.start, '--config', ctx.config, '--param', 'cycles=2', '--', ...toyCommand]
  ctx.result = await snap([...args.slice(0, 2), '--job-dir', ctx.job, ...args.slice(2)])
  ctx.mainAfter = await dumpStore(ctx.store)
  ;[ctx.verified, ctx.jobSnapshots] = await Promise.all([snap(['verify', ctx.jobStore]), snap(['ls', 'snapshots', ctx.jobStore])])
  ;[ctx.jobConfigs, ctx.merged] = await Promise.all([snap(['ls', 'configs', ctx.jobStore]), snap(['merge', ctx.store, ctx.jobStore])])
  ;[ctx.listed, ctx.rerun] = await Promise.all([snap(['ls', 'runs', ctx.store, '-l']), snap(args)])
}))
Job.after(hook(async (ctx) => { await ctx.dispose() }))

Job('run --job-dir prints CMD\'s output and the hashes, and does not modify the main store', ({ result, start, mainBefore, mainAfter }) => {
  expectOk(result)
  assert.ok(lines(result.stdout).includes('toy-sim: done'))
  const { start: from, end } = lastHashes(result.stdout)
  assert.is(from, start)
  assert.ok(end.startsWith('bafkrei'))
  assert.equal(mainAfter, mainBefore, 'every key and value of the main store is unchanged')
})

Job('DIR/checkpoint.store is a complete store: it verifies and holds the start snapshot, the config and the run', async ({ verified, jobSnapshots, jobConfigs, jobStore, start, config, result }) => {
  expectOk(verified)
  assert.match(verified.stdout, /^ok: \d+ events, \d+ blobs\n$/)
  expectOk(jobSnapshots)
  const snapshots = lines(jobSnapshots.stdout)
  assert.ok(snapshots.includes(start), 'the start snapshot')
  assert.ok(snapshots.includes(lastHashes(result.stdout).end), 'the end snapshot')
  expectOk(jobConfigs, `${config}\n`)
  const [run] = await runsIn(jobStore)
  assert.equal([run?.['status'], run?.['from'], run?.['config']], ['completed', start, config])
})

Job('merge MAIN DIR/checkpoint.store brings the run home, and ls runs of MAIN shows it completed', async ({ merged, listed, store, jobStore, start, config, result }) => {
  expectOk(merged)
  assert.match(merged.stdout, new RegExp(`^merged [1-9]\\d* events, [1-9]\\d* blobs \\(\\d+ bytes\\) from ${jobStore}\\n$`))
  expectOk(listed)
  const [header, ...rows] = lines(listed.stdout)
  assert.is(header, 'run\tstatus\tfrom\tend\tconfig\tcycles\thost\tstarted\tended')
  const { end } = lastHashes(result.stdout)
  const [jobRun] = await runsIn(jobStore)
  assert.equal(rows.map((row) => row.split('\t').slice(0, 6)), [[String(jobRun?.['run']), 'completed', start, end, config, '2']])
  assert.ok((await blobIn(store, end)).equals(toyOutput(START_STATE, 2, CONFIG)), 'the end snapshot came home whole')
})

Job('after the merge, the same run in MAIN is memoised: it prints the hashes without running CMD', ({ rerun, result }) => {
  assert.is(rerun.status, 0, rerun.stderr)
  assert.is(rerun.stdout, `${lines(result.stdout).at(-1)!}\n`)
})

Job.run()
