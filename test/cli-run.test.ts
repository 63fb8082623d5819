import { chmod, copyFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { isAbsolute, join } from 'node:path'
import * as assert from 'uvu/assert'
import { blobIdOf, digestOf, expectError, expectOk, lines, seed, sha256Hex, snap } from './_helpers/cli.ts'
import { blobIn, checkpointsOf, envDumpCommand, eventIdsIn, eventsIn, hook, lastHashes, runsContext, runsIn, START_STATE, toyCommand, toyOutput } from './_helpers/runs.ts'
import { specSuite } from './_helpers/store.ts'
import type { Run } from './_helpers/cli.ts'
import type { RunsContext } from './_helpers/runs.ts'

// CLI processes cost about a quarter of a second each here, so each suite starts its commands in
// `before`, as many at a time as the machine has cores, and its tests assert on what they printed.

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const LOG_LINE = /^(\S+) (\d+) ([0-9a-f]{32}):(\d+) (run\.start|run\.checkpoint|run\.end|run\.fail|blob\.add) (.+)$/

/** `show STORE RUN` as rows of `key  value` (checkpoint rows keep their leading spaces in the key). */
function showRows (text: string): Array<[string, string]> {
  return lines(text).map((line) => {
    const match = /^(\s*\S+(?: \S+)?)\s{2,}(.*)$/.exec(line)
    assert.ok(match !== null, `not a "key  value" row: ${line}`)
    return [match[1]!, match[2]!] as [string, string]
  })
}

function row (rows: ReadonlyArray<[string, string]>, key: string): string | undefined {
  return rows.find(([k]) => k === key)?.[1]
}

// ---------------------------------------------------------------- a completed run

interface CompletedContext extends RunsContext {
  result: Run
  run: string
  seed: string
  long: Run
  short: Run
  shown: Run
  log: Run
}

const Completed = specSuite<CompletedContext>('snapstore run: a completed run', {} as CompletedContext)
Completed.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  ctx.result = await snap(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=2', '--', ...toyCommand])
  const [listed] = await runsIn(ctx.store)
  ctx.run = String(listed?.['run'])
  ctx.seed = String(listed?.['seed'])
  ;[ctx.long, ctx.short] = await Promise.all([snap(['ls', 'runs', ctx.store, '-l']), snap(['ls', 'runs', ctx.store])])
  ;[ctx.shown, ctx.log] = await Promise.all([snap(['show', ctx.store, ctx.run]), snap(['log', ctx.store, '--run', ctx.run])])
}))
Completed.after(hook(async (ctx) => { await ctx.dispose() }))

Completed('run passes CMD\'s stdout through and ends with exactly "Run start and end hashes: START, END"', ({ result, start, run, seed }) => {
  expectOk(result)
  assert.equal(lines(result.stdout), [
    `toy-sim: run ${run} seed ${seed}, 2 cycles`,
    'toy-sim: done',
    `Run start and end hashes: ${start}, ${blobIdOf(toyOutput(START_STATE, 2))}`
  ])
})

Completed('the end hash is the id of the bytes CMD wrote to SNAPSTORE_OUTPUT: its digest is their sha-256', async ({ result, store }) => {
  const { end } = lastHashes(result.stdout)
  const expected = toyOutput(START_STATE, 2)
  assert.is(digestOf(end), sha256Hex(expected))
  assert.ok((await blobIn(store, end)).equals(expected), 'the store holds the end state the toy wrote')
})

Completed('ls runs -l prints the header "run status from end config cycles host started ended" and a completed row', ({ result, start, run, long, short }) => {
  const { end } = lastHashes(result.stdout)
  expectOk(long)
  const [header, ...rows] = lines(long.stdout)
  assert.is(header, 'run\tstatus\tfrom\tend\tconfig\tcycles\thost\tstarted\tended')
  assert.is(rows.length, 1)
  const cells = rows[0]!.split('\t')
  assert.equal(cells.slice(0, 7), [run, 'completed', start, end, '-', '2', hostname()])
  assert.match(cells[7]!, ISO)
  assert.match(cells[8]!, ISO)
  expectOk(short, `${run}\n`)
})

Completed('show RUN describes the run and lists its checkpoints by cycle', ({ shown, start, run, seed }) => {
  expectOk(shown)
  const rows = showRows(shown.stdout)
  assert.is(row(rows, 'run'), run)
  assert.is(row(rows, 'status'), 'completed')
  assert.is(row(rows, 'from'), start)
  assert.is(row(rows, 'config'), '-')
  assert.is(row(rows, 'params'), '{"cycles":2}')
  assert.is(row(rows, 'seed'), seed)
  assert.is(row(rows, 'command'), toyCommand.join(' '))
  assert.is(row(rows, 'end'), blobIdOf(toyOutput(START_STATE, 2)))
  assert.is(row(rows, 'checkpoints'), '2')
  const checkpoints = rows.filter(([key]) => /^\s+cycle /.test(key)).map(([key, value]) => [key.trim(), value.split(/\s+/)[0]])
  assert.equal(checkpoints, [
    ['cycle 1', blobIdOf(toyOutput(START_STATE, 1))],
    ['cycle 2', blobIdOf(toyOutput(START_STATE, 2))]
  ])
})

Completed('log --run RUN shows run.start, the checkpoints in cycle order, then run.end', ({ result, log, start, run, seed }) => {
  const { end } = lastHashes(result.stdout)
  expectOk(log)
  const parsed = lines(log.stdout).map((line) => {
    const match = LOG_LINE.exec(line)
    assert.ok(match !== null, `not a log line: ${line}`)
    return [match[5], match[6]]
  })
  assert.equal(parsed, [
    ['run.start', `from ${start} config - seed ${seed}`],
    ['run.checkpoint', `${run} cycle 1 ${blobIdOf(toyOutput(START_STATE, 1))}`],
    ['run.checkpoint', `${run} cycle 2 ${blobIdOf(toyOutput(START_STATE, 2))}`],
    ['run.end', `${run} -> ${end}`]
  ])
})

Completed.run()

// ---------------------------------------------------------------- the environment contract

interface EnvReport {
  env: Record<string, string | null>
  input: string | null
  config: string | null
  checkpointsIsDirectory: boolean
}

interface EnvContext extends RunsContext {
  config: string
  full: Run
  bare: Run
}

async function envReport (store: string, result: Run): Promise<EnvReport> {
  return JSON.parse((await blobIn(store, lastHashes(result.stdout).end)).toString('utf8')) as EnvReport
}

const Env = specSuite<EnvContext>('snapstore run: the SNAPSTORE_* environment', {} as EnvContext)
Env.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  ctx.config = (await seed(ctx.store, [{ kind: 'config', content: 'temperature 300\n', options: { name: 'md.conf' } }]))[0]!
  ;[ctx.full, ctx.bare] = await Promise.all([
    snap(['run', ctx.store, '--from', ctx.start, '--config', ctx.config, '--param', 'cycles=3', '--param', 'ensemble=nvt', '--param', 'dt=0.5', '--seed', '42', '--', ...envDumpCommand]),
    snap(['run', ctx.store, '--', ...envDumpCommand])
  ])
}))
Env.after(hook(async (ctx) => { await ctx.dispose() }))

Env('CMD gets its input, config, output, checkpoint directory, seed, run id and params in SNAPSTORE_*', async ({ store, start, config, full }) => {
  expectOk(full)
  const report = await envReport(store, full)
  const [listed] = await runsIn(store, { where: [{ name: 'cycles', op: '=', value: '3' }] })
  assert.is(report.env['SNAPSTORE_SEED'], '42')
  assert.is(report.env['SNAPSTORE_RUN'], listed?.['run'])
  assert.equal(JSON.parse(report.env['SNAPSTORE_PARAMS'] ?? 'null'), { cycles: 3, ensemble: 'nvt', dt: 0.5 }, 'numbers are passed as numbers')
  assert.is(report.input, digestOf(start), 'SNAPSTORE_INPUT holds the start snapshot\'s bytes')
  assert.is(report.config, 'temperature 300\n', 'SNAPSTORE_CONFIG holds the config\'s bytes')
  for (const name of ['SNAPSTORE_INPUT', 'SNAPSTORE_CONFIG', 'SNAPSTORE_OUTPUT', 'SNAPSTORE_CHECKPOINTS']) {
    assert.ok(isAbsolute(report.env[name] ?? ''), `${name} is an absolute path: ${String(report.env[name])}`)
  }
  assert.ok(report.checkpointsIsDirectory, 'SNAPSTORE_CHECKPOINTS is a directory')
  assert.equal([listed?.['from'], listed?.['config'], listed?.['seed'], listed?.['params']], [start, config, '42', { cycles: 3, ensemble: 'nvt', dt: 0.5 }])
})

Env('a file moved into SNAPSTORE_CHECKPOINTS is stored as a checkpoint whose cycle is the number in its name', async ({ store }) => {
  const [listed] = await runsIn(store, { where: [{ name: 'cycles', op: '=', value: '3' }] })
  assert.equal(checkpointsOf(listed!).map((c) => [c.cycle, c.snapshot]), [[7, blobIdOf(`checkpoint of ${String(listed?.['run'])}\n`)]])
  assert.is(listed?.['cycles'], 7)
})

Env('without --from or --config CMD gets no SNAPSTORE_INPUT or SNAPSTORE_CONFIG, and the start hash is "-"', async ({ store, bare }) => {
  expectOk(bare)
  assert.is(lastHashes(bare.stdout).start, '-')
  const report = await envReport(store, bare)
  assert.is(report.env['SNAPSTORE_INPUT'], null)
  assert.is(report.env['SNAPSTORE_CONFIG'], null)
  assert.match(report.env['SNAPSTORE_SEED'] ?? '', /^\d+$/, 'a seed is derived when none is given')
})

Env.run()

// ---------------------------------------------------------------- failures

interface FailureContext extends RunsContext {
  exited: Run
  silent: Run
  failedList: Run
  shown: Run
}

Env('a file written in SNAPSTORE_CHECKPOINTS under a temporary name and then renamed is stored once, under its final name', async ({ store }) => {
  const script = 'printf "half a state" > "$SNAPSTORE_CHECKPOINTS/ckpt-5.dat.tmp"; sleep 0.7; printf " and the rest" >> "$SNAPSTORE_CHECKPOINTS/ckpt-5.dat.tmp"; ' +
    'mv "$SNAPSTORE_CHECKPOINTS/ckpt-5.dat.tmp" "$SNAPSTORE_CHECKPOINTS/ckpt-5.dat"; printf end > "$SNAPSTORE_OUTPUT"'
  expectOk(await snap(['run', store, '--param', 'renamed=1', '--', 'sh', '-c', script]))
  const [listed] = await runsIn(store, { where: [{ name: 'renamed', op: '=', value: '1' }] })
  assert.is(listed?.['status'], 'completed')
  assert.equal(checkpointsOf(listed!).map((c) => [c.cycle, c.snapshot]), [[5, blobIdOf('half a state and the rest')]])
})

const Failure = specSuite<FailureContext>('snapstore run: failures', {} as FailureContext)
Failure.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  ;[ctx.exited, ctx.silent] = await Promise.all([
    snap(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=2', '--param', 'exit=3', '--', ...toyCommand]),
    snap(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=1', '--param', 'no_output=1', '--', ...toyCommand])
  ])
  const [exitedRun] = await runsIn(ctx.store, { where: [{ name: 'exit', op: '=', value: '3' }] })
  ;[ctx.failedList, ctx.shown] = await Promise.all([
    snap(['ls', 'runs', ctx.store, '--status', 'failed']),
    snap(['show', ctx.store, String(exitedRun?.['run'])])
  ])
}))
Failure.after(hook(async (ctx) => { await ctx.dispose() }))

Failure('a CMD that exits non-zero is recorded failed with its exit code, which run exits with', async ({ store, exited }) => {
  assert.is(exited.status, 3, 'run exits with CMD\'s status')
  assert.ok(lines(exited.stdout).some((line) => line.startsWith('toy-sim: run ')), 'CMD\'s stdout passes through')
  assert.not.match(exited.stdout, 'Run start and end hashes', 'no hashes line for a failed run')
  assert.ok(lines(exited.stderr).includes('toy-sim: failing with exit code 3'), 'CMD\'s stderr passes through')
  const [failed] = await runsIn(store, { where: [{ name: 'exit', op: '=', value: '3' }] })
  assert.is(failed?.['status'], 'failed')
  assert.equal(checkpointsOf(failed!).map((c) => c.cycle), [1, 2], 'the checkpoints written before the failure are kept')
  assert.equal(failed?.['failure'], { reason: 'exit code 3', exitCode: 3, signal: null, lastCheckpoint: checkpointsOf(failed!).at(-1)?.snapshot })
})

Failure('show of a failed run prints its failure line with the exit code', ({ shown }) => {
  expectOk(shown)
  const rows = showRows(shown.stdout)
  assert.is(row(rows, 'status'), 'failed')
  assert.match(row(rows, 'failure') ?? '', /\bexit 3\b/)
  assert.is(row(rows, 'end'), '-')
})

Failure('a CMD that exits 0 without writing SNAPSTORE_OUTPUT is recorded failed, and run exits 1', async ({ store, silent }) => {
  assert.is(silent.status, 1)
  assert.ok(lines(silent.stdout).includes('toy-sim: done'))
  assert.not.match(silent.stdout, 'Run start and end hashes')
  const [run] = await runsIn(store, { where: [{ name: 'no_output', op: '=', value: '1' }] })
  assert.equal([run?.['status'], run?.['end']], ['failed', null])
  assert.match(String((run?.['failure'] as Record<string, unknown>)['reason']), /output/)
})

Failure('ls runs --status failed lists both failed runs and nothing else', async ({ store, failedList }) => {
  expectOk(failedList)
  const all = await runsIn(store)
  assert.equal(lines(failedList.stdout).sort(), all.map((r) => String(r['run'])).sort())
  assert.is(all.length, 2)
})

Failure.run()

// ---------------------------------------------------------------- memoised runs

interface MemoContext extends RunsContext {
  first: Run
  again: Run
  before: string[]
  after: string[]
  forced: Run
  reseeded: Run
}

const Memo = specSuite<MemoContext>('snapstore run: memoised runs', {} as MemoContext)
Memo.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  const args = (...extra: string[]): string[] => ['run', ctx.store, ...extra, '--from', ctx.start, '--param', 'cycles=1', '--', ...toyCommand]
  ctx.first = await snap(args('--seed', '7'))
  ctx.before = await eventIdsIn(ctx.store)
  ctx.again = await snap(args('--seed', '7'))
  ctx.after = await eventIdsIn(ctx.store)
  ;[ctx.forced, ctx.reseeded] = await Promise.all([snap(args('--seed', '7', '--force')), snap(args('--seed', '8'))])
}))
Memo.after(hook(async (ctx) => { await ctx.dispose() }))

Memo('a rerun with the same start, config, params, seed and command prints the same hashes without running CMD or recording anything', ({ first, again, before, after }) => {
  expectOk(first)
  assert.is(again.status, 0, again.stderr)
  assert.is(again.stdout, `${lines(first.stdout).at(-1)!}\n`, 'only the hashes line: CMD did not run')
  assert.equal(after, before, 'no new events')
})

Memo('run --force runs CMD again, recording a second completed run with the same key and hashes', async ({ store, first, forced }) => {
  expectOk(forced)
  assert.ok(lines(forced.stdout).some((line) => line.startsWith('toy-sim: run ')), '--force runs CMD again')
  assert.is(lines(forced.stdout).at(-1), lines(first.stdout).at(-1), 'the same computation gives the same hashes')
  const runs = (await runsIn(store)).filter((r) => r['seed'] === '7')
  assert.equal(runs.map((r) => r['status']), ['completed', 'completed'])
  assert.is(runs[0]?.['key'], runs[1]?.['key'], 'both runs have the same run key')
})

Memo('a run that differs only in its seed is not memoised', async ({ store, reseeded }) => {
  expectOk(reseeded)
  assert.ok(lines(reseeded.stdout).some((line) => line.startsWith('toy-sim: run ')), 'CMD ran')
  const runs = await runsIn(store)
  const keys = new Set(runs.map((r) => r['key']))
  assert.equal([runs.length, keys.size], [3, 2], 'three runs, two keys: seed 7 twice, seed 8 once')
})

Memo.run()

// ---------------------------------------------------------------- bad input

interface BadContext extends RunsContext {
  completed: string
  before: string[]
  results: Record<string, Run>
  script: string
}

const Bad = specSuite<BadContext>('snapstore run and resume: bad input', {} as BadContext)
Bad.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  expectOk(await snap(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=1', '--', ...toyCommand]))
  ctx.completed = String((await runsIn(ctx.store))[0]?.['run'])
  const added = (await eventsIn(ctx.store)).find((e) => e.type === 'blob.add')!
  ctx.script = join(ctx.dir, 'not-executable.mjs')
  await copyFile(toyCommand[1]!, ctx.script)
  await chmod(ctx.script, 0o644)
  ctx.before = await eventIdsIn(ctx.store)
  const { store, start } = ctx
  const cases: Record<string, string[]> = {
    unknownFrom: ['run', store, '--from', blobIdOf('no such state'), '--', ...toyCommand],
    unknownConfig: ['run', store, '--from', start, '--config', blobIdOf('no such config'), '--', ...toyCommand],
    notExecutable: ['run', store, '--from', start, '--', ctx.script],
    missingFile: ['run', store, '--from', start, '--', join(ctx.dir, 'no-such-sim')],
    emptyCommand: ['run', store, '--from', start, '--'],
    noCommand: ['run', store, '--from', start],
    templateAlone: ['run', store, '--from', start, '--template', 'x.j2', '--', ...toyCommand],
    resumeSnapshot: ['resume', store, start, '--', ...toyCommand],
    resumeEvent: ['resume', store, added.id, '--', ...toyCommand],
    resumeCompleted: ['resume', store, ctx.completed, '--', ...toyCommand]
  }
  ctx.results = {}
  const names = Object.keys(cases)
  for (let i = 0; i < names.length; i += 3) {
    const chunk = names.slice(i, i + 3)
    const done = await Promise.all(chunk.map(async (name) => await snap(cases[name]!)))
    chunk.forEach((name, j) => { ctx.results[name] = done[j]! })
  }
}))
Bad.after(hook(async (ctx) => { await ctx.dispose() }))

Bad('run refuses an unknown --from or --config with E_NOT_FOUND', ({ results }) => {
  assert.match(expectError(results['unknownFrom']!, 'E_NOT_FOUND', 'unknown CID'), blobIdOf('no such state'))
  expectError(results['unknownConfig']!, 'E_NOT_FOUND', 'unknown config')
})

Bad('run refuses a CMD that is not executable or does not exist with E_BAD_INPUT', ({ results, script }) => {
  assert.match(expectError(results['notExecutable']!, 'E_BAD_INPUT', 'not executable'), script)
  assert.match(expectError(results['missingFile']!, 'E_BAD_INPUT', 'missing'), 'no-such-sim')
})

Bad('run without a command after "--" is a usage error (exit 2), as is --template without --segments', ({ results }) => {
  expectError(results['emptyCommand']!, 'E_USAGE', 'nothing after --')
  expectError(results['noCommand']!, 'E_USAGE', 'no --')
  expectError(results['templateAlone']!, 'E_USAGE', '--template without --segments')
})

Bad('resume of an id that is not a run is E_NOT_FOUND', ({ results }) => {
  expectError(results['resumeSnapshot']!, 'E_NOT_FOUND', 'a snapshot')
  expectError(results['resumeEvent']!, 'E_NOT_FOUND', 'a blob.add event')
})

Bad('resume of a completed run is refused with E_BAD_INPUT naming the run', ({ results, completed }) => {
  assert.match(expectError(results['resumeCompleted']!, 'E_BAD_INPUT'), completed)
})

Bad('none of the refused commands recorded anything', async ({ store, before }) => {
  assert.equal(await eventIdsIn(store), before)
})

Bad.run()
