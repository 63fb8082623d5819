import { writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import * as assert from 'uvu/assert'
import { blobIdOf, digestOf, expectError, expectOk, lines, snap } from './_helpers/cli.ts'
import { blobIn, envDumpCommand, eventIdsIn, eventsIn, hashLines, hook, runsContext, runsIn, START_STATE, toyCommand, toyOutput } from './_helpers/runs.ts'
import { fixturePath, specSuite } from './_helpers/store.ts'
import type { Run } from './_helpers/cli.ts'
import type { RunsContext } from './_helpers/runs.ts'

const TEMPLATE = fixturePath('segment.conf.j2')
const BROKEN_TEMPLATE = fixturePath('segment-broken.conf.j2')

// ---------------------------------------------------------------- chained segments

interface SegmentsContext extends RunsContext {
  result: Run
  listed: Run
}

const Segments = specSuite<SegmentsContext>('snapstore run --segments: a chained trajectory', {} as SegmentsContext)
Segments.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  ctx.result = await snap(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=1', '--segments', '3', '--trajectory', '1', '--seed-base', '6', '--', ...toyCommand])
  ctx.listed = await snap(['ls', 'runs', ctx.store, '--json'])
}))
Segments.after(hook(async (ctx) => { await ctx.dispose() }))

Segments('run --segments 3 prints one hashes line per segment, each starting from the previous end', ({ result, start }) => {
  expectOk(result)
  const first = toyOutput(START_STATE, 1)
  const second = toyOutput(first, 1)
  const third = toyOutput(second, 1)
  assert.equal(hashLines(result.stdout), [
    [start, blobIdOf(first)],
    [blobIdOf(first), blobIdOf(second)],
    [blobIdOf(second), blobIdOf(third)]
  ])
  assert.is(lines(result.stdout).filter((line) => line === 'toy-sim: done').length, 3, 'CMD ran three times')
})

Segments('each segment\'s run.start records the seed rule\'s seed, its batch, the previous batch and the trajectory', async ({ store }) => {
  const starts = (await eventsIn(store)).filter((e) => e.type === 'run.start').map((e) => e.body)
  assert.equal(starts.map((b) => [b['seed'], b['batch'], b['previousBatch'], b['trajectory']]), [
    ['60100', '00', null, '01'],
    ['60101', '01', '00', '01'],
    ['60102', '02', '01', '01']
  ])
})

Segments('ls runs --json shows each segment\'s seed, batch, trajectory and start', async ({ listed, store, start }) => {
  expectOk(listed)
  const runs = lines(listed.stdout).map((line) => JSON.parse(line) as Record<string, unknown>)
  assert.equal(runs.map((r) => [r['seed'], r['batch'], r['trajectory'], r['status']]), [
    ['60100', '00', '01', 'completed'],
    ['60101', '01', '01', 'completed'],
    ['60102', '02', '01', 'completed']
  ])
  assert.equal(runs.map((r) => r['from']), [start, runs[0]?.['end'], runs[1]?.['end']], 'each segment starts from the previous end snapshot')
  assert.equal(await runsIn(store), runs)
})

Segments('ls runs --json shows each segment\'s previousBatch: null, then "00", then "01"', ({ listed }) => {
  const runs = lines(listed.stdout).map((line) => JSON.parse(line) as Record<string, unknown>)
  assert.equal(runs.map((r) => r['previousBatch']), [null, '00', '01'], 'runJson (src/cli/run-format.ts) has no previousBatch field')
})

Segments.run()

// ---------------------------------------------------------------- templates

interface TemplateContext extends RunsContext {
  result: Run
  configs: Run
  got: Run[]
}

interface EnvReport {
  env: Record<string, string | null>
  input: string | null
  config: string | null
}

/** The `key value` lines of a rendered config, as a map. */
function rendered (text: string): Map<string, string> {
  return new Map(lines(text).filter((line) => !line.startsWith('#')).map((line) => {
    const at = line.indexOf(' ')
    return [line.slice(0, at), line.slice(at + 1)] as [string, string]
  }))
}

const Template = specSuite<TemplateContext>('snapstore run --segments --template: a config rendered per segment', {} as TemplateContext)
Template.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  ctx.result = await snap(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=2', '--segments', '3', '--trajectory', '1', '--seed-base', '6', '--template', TEMPLATE, '--', ...envDumpCommand])
  ctx.configs = await snap(['ls', 'configs', ctx.store])
  const ids = lines(ctx.configs.stdout)
  ctx.got = await Promise.all(ids.map(async (id) => await snap(['get', 'config', ctx.store, id])))
}))
Template.after(hook(async (ctx) => { await ctx.dispose() }))

Template('each segment\'s rendered config is stored: ls configs lists three, and get shows seed, batch, previous batch, trajectory and params', ({ result, configs, got }) => {
  expectOk(result)
  expectOk(configs)
  assert.is(lines(configs.stdout).length, 3)
  const values = got.map((run) => {
    expectOk(run)
    const map = rendered(run.stdout)
    return [map.get('seed'), map.get('batch'), map.get('previous_batch'), map.get('trajectory'), map.get('cycles')]
  })
  assert.equal(values, [
    ['60100', '00', 'none', '01', '2'],
    ['60101', '01', '00', '01', '2'],
    ['60102', '02', '01', '01', '2']
  ])
  assert.match(got[0]!.stdout, /^# segment 00 of trajectory 01\n/)
})

Template('each segment runs with its rendered config: the run names it and CMD reads it from SNAPSTORE_CONFIG', async ({ store, configs, got }) => {
  const runs = await runsIn(store)
  assert.equal(runs.map((r) => r['config']), lines(configs.stdout))
  for (const [i, run] of runs.entries()) {
    const report = JSON.parse((await blobIn(store, String(run['end']))).toString('utf8')) as EnvReport
    assert.is(report.config, got[i]!.stdout, `segment ${i} read its rendered config`)
    assert.is(report.env['SNAPSTORE_SEED'], `6010${i}`)
  }
})

Template('the template\'s input and output name the files the segment reads and writes, relative to the job directory CMD runs in', async ({ store, got }) => {
  const runs = await runsIn(store)
  for (const [i, run] of runs.entries()) {
    const report = JSON.parse((await blobIn(store, String(run['end']))).toString('utf8')) as EnvReport
    const config = rendered(got[i]!.stdout)
    const jobDir = dirname(report.env['SNAPSTORE_INPUT']!)
    assert.is(resolve(jobDir, config.get('input')!), report.env['SNAPSTORE_INPUT'], `segment ${i} input`)
    assert.is(resolve(jobDir, config.get('output')!), report.env['SNAPSTORE_OUTPUT'], `segment ${i} output`)
    assert.not.match(config.get('input')!, '/', 'no path of this invocation\'s temporary directory')
    assert.is(report.input, digestOf(String(run['from'])), `segment ${i} read its start snapshot`)
  }
})

Template('the same chain run again reuses every segment: its rendered configs are the same, and so are the run keys', async ({ store, start }) => {
  const again = await snap(['run', store, '--from', start, '--param', 'cycles=2', '--segments', '3', '--trajectory', '1', '--seed-base', '6', '--template', TEMPLATE, '--', ...envDumpCommand])
  assert.is(again.status, 0, again.stderr)
  assert.is((await runsIn(store)).length, 3, 'no segment ran again')
  assert.is(lines((await snap(['ls', 'configs', store])).stdout).length, 3, 'no new config')
})

Template.run()

// ---------------------------------------------------------------- failures

interface BadContext extends RunsContext {
  before: string[]
  broken: Run
  afterBroken: string[]
  failing: Run
}

const Bad = specSuite<BadContext>('snapstore run --segments: a broken template and a failing segment', {} as BadContext)
Bad.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  ctx.before = await eventIdsIn(ctx.store)
  ctx.broken = await snap(['run', ctx.store, '--from', ctx.start, '--segments', '2', '--seed-base', '6', '--template', BROKEN_TEMPLATE, '--', ...toyCommand])
  ctx.afterBroken = await eventIdsIn(ctx.store)
  ctx.failing = await snap(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=1', '--param', 'exit=4', '--segments', '3', '--', ...toyCommand])
}))
Bad.after(hook(async (ctx) => { await ctx.dispose() }))

Bad('a template with an error is E_BAD_INPUT naming its line, and nothing is recorded', ({ broken, before, afterBroken }) => {
  const message = expectError(broken, 'E_BAD_INPUT')
  assert.match(message, 'segment-broken.conf.j2')
  assert.match(message, /\bLine 3\b/)
  assert.equal(afterBroken, before)
})

Bad('a template that prints previous_batch unguarded is E_BAD_INPUT saying it is none in the first segment, and nothing is recorded', async ({ store, start, dir }) => {
  const template = join(dir, 'unguarded.conf.j2')
  await writeFile(template, 'seed {{ seed }}\nprevious {{ previous_batch }}\n')
  const before = await eventIdsIn(store)
  const message = expectError(await snap(['run', store, '--from', start, '--segments', '2', '--template', template, '--', ...toyCommand]), 'E_BAD_INPUT')
  assert.match(message, /\bLine 2\b/)
  assert.match(message, '"previous {{ previous_batch }}"')
  assert.match(message, 'previous_batch is none here; write {{ previous_batch or "none" }}')
  assert.equal(await eventIdsIn(store), before)
})

Bad('a template naming a variable that does not exist is E_BAD_INPUT naming it and listing the variables', async ({ store, start, dir }) => {
  const template = join(dir, 'typo.conf.j2')
  await writeFile(template, 'seed {{ sead }}\n')
  const message = expectError(await snap(['run', store, '--from', start, '--segments', '2', '--template', template, '--', ...toyCommand]), 'E_BAD_INPUT')
  assert.match(message, 'no variable sead; the variables are seed, batch, previous_batch')
})

Bad('a segment that fails stops the trajectory: run exits with its status and later segments do not run', async ({ failing, store }) => {
  assert.is(failing.status, 4)
  assert.equal(hashLines(failing.stdout), [])
  const runs = await runsIn(store)
  assert.equal(runs.map((r) => [r['batch'], r['status']]), [['00', 'failed']])
})

Bad.run()

// ---------------------------------------------------------------- one step of a chain

const Step = specSuite<RunsContext>('snapstore run --segments N --step K: one step of a chain, started from the step before', {} as RunsContext)
Step.before(hook(async (ctx) => { Object.assign(ctx, await runsContext()) }))
Step.after(hook(async (ctx) => { await ctx.dispose() }))

Step('--step 1 starts from the end of the completed step 0 of the same trajectory, and runs only that step', async ({ store, start }) => {
  const chain = ['--param', 'cycles=1', '--segments', '3', '--trajectory', '2', '--seed-base', '6']
  expectOk(await snap(['run', store, '--from', start, ...chain, '--step', '0', '--', ...toyCommand]))
  const second = await snap(['run', store, ...chain, '--step', '1', '--', ...toyCommand])
  expectOk(second)
  const [[from, end]] = hashLines(second.stdout) as [[string, string]]
  const runs = await runsIn(store)
  assert.equal(runs.map((r) => [r['batch'], r['seed']]), [['00', '60200'], ['01', '60201']])
  assert.is(from, runs[0]!['end'])
  assert.equal(await blobIn(store, end), toyOutput(toyOutput(START_STATE, 1), 1))
})

Step('--step 2 without a completed step 1 in the store fails with E_NOT_FOUND naming the batch', async ({ store }) => {
  const failed = await snap(['run', store, '--param', 'cycles=1', '--segments', '3', '--trajectory', '3', '--seed-base', '6', '--step', '2', '--', ...toyCommand])
  assert.match(expectError(failed, 'E_NOT_FOUND'), /no completed run of batch 01/)
  expectError(await snap(['run', store, '--segments', '3', '--step', '3', '--', ...toyCommand]), 'E_USAGE', '--step past the last segment')
  expectError(await snap(['run', store, '--step', '1', '--', ...toyCommand]), 'E_USAGE', '--step without --segments')
})

Step.run()
