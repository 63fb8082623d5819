import * as assert from 'uvu/assert'
import { blobIdOf, snap } from './_helpers/cli.ts'
import { eventIdsIn, hook, runsContext, runsIn, START_STATE, sweepTable, toyCommand, toyOutput } from './_helpers/runs.ts'
import { specSuite } from './_helpers/store.ts'
import type { Run } from './_helpers/cli.ts'
import type { RunsContext } from './_helpers/runs.ts'

interface SweepContext extends RunsContext {
  first: Run
  afterFirst: string[]
  again: Run
  afterAgain: string[]
  overlap: Run
  failing: Run
  proto: Run
}

const Sweep = specSuite<SweepContext>('snapstore sweep: a full factorial, memoised points skipped', {} as SweepContext)
Sweep.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  const sweep = (...params: string[]): string[] => ['sweep', ctx.store, '--from', ctx.start, ...params.flatMap((p) => ['--param', p]), '--jobs', '2', '--', ...toyCommand]
  ctx.first = await snap(sweep('cycles=1,2', 'x=a,b'))
  ctx.afterFirst = await eventIdsIn(ctx.store)
  ctx.again = await snap(sweep('cycles=1,2', 'x=a,b'))
  ctx.afterAgain = await eventIdsIn(ctx.store)
  ctx.overlap = await snap(sweep('cycles=2,3', 'x=b'))
  ctx.failing = await snap(sweep('cycles=1', 'exit=2,5'))
  ctx.proto = await snap(sweep('cycles=1', '__proto__=7'))
}))
Sweep.after(hook(async (ctx) => { await ctx.dispose() }))

const GRID = [{ cycles: 1, x: 'a' }, { cycles: 1, x: 'b' }, { cycles: 2, x: 'a' }, { cycles: 2, x: 'b' }]

Sweep('sweep --jobs 2 runs every point of the full factorial and ends with a table: header, one row per point, totals', ({ first }) => {
  assert.is(first.status, 0, first.stderr)
  assert.is(first.stderr, '')
  const table = sweepTable(first.stdout)
  assert.equal(table.rows.map((r) => r.params), GRID, 'points in factorial order, the first parameter varying slowest')
  assert.equal(table.rows.map((r) => r.status), ['ran', 'ran', 'ran', 'ran'])
  assert.equal(table.rows.map((r) => r.end), GRID.map((p) => blobIdOf(toyOutput(START_STATE, p.cycles))))
  assert.is(new Set(table.rows.map((r) => r.run)).size, 4, 'four distinct runs')
  assert.is(table.summary, 'ran 4, skipped 0, failed 0')
  assert.is(table.before.filter((line) => line === 'toy-sim: done').length, 4, 'CMD\'s output comes before the table')
})

Sweep('each point of the sweep is recorded as a completed run with its params', async ({ first, store, start }) => {
  const table = sweepTable(first.stdout)
  const runs = await runsIn(store)
  const byRun = new Map(runs.map((r) => [String(r['run']), r]))
  for (const row of table.rows) {
    const run = byRun.get(row.run)
    assert.ok(run !== undefined, `run ${row.run} is recorded`)
    assert.equal([run['status'], run['from'], run['end'], run['params']], ['completed', start, row.end, row.params])
  }
})

Sweep('the same sweep again skips every point, runs nothing and records nothing', ({ first, again, afterFirst, afterAgain }) => {
  const shown = `\nstdout:\n${again.stdout}stderr:\n${again.stderr}`
  assert.is(again.status, 0, `exit status${shown}`)
  const table = sweepTable(again.stdout)
  assert.equal(table.before, [], `CMD did not run${shown}`)
  assert.equal(table.rows.map((r) => r.status), ['skipped', 'skipped', 'skipped', 'skipped'], shown)
  assert.equal(table.rows.map((r) => [r.run, r.end]), sweepTable(first.stdout).rows.map((r) => [r.run, r.end]), `the completed runs are named${shown}`)
  assert.is(table.summary, 'ran 0, skipped 4, failed 0')
  assert.equal(afterAgain, afterFirst, `nothing recorded${shown}`)
})

Sweep('an overlapping grid skips the points already completed and runs only the new ones', ({ first, overlap }) => {
  assert.is(overlap.status, 0, overlap.stderr)
  const table = sweepTable(overlap.stdout)
  assert.equal(table.rows.map((r) => [r.status, r.params]), [['skipped', { cycles: 2, x: 'b' }], ['ran', { cycles: 3, x: 'b' }]])
  assert.is(table.rows[0]!.run, sweepTable(first.stdout).rows[3]!.run)
  assert.is(table.summary, 'ran 1, skipped 1, failed 0')
  assert.is(table.before.filter((line) => line === 'toy-sim: done').length, 1)
})

Sweep('failed points are counted in the table, which has no end for them, and sweep exits 1', ({ failing }) => {
  assert.is(failing.status, 1)
  const table = sweepTable(failing.stdout)
  assert.equal(table.rows.map((r) => [r.status, r.end, r.params]), [['failed', '-', { cycles: 1, exit: 2 }], ['failed', '-', { cycles: 1, exit: 5 }]])
  assert.is(table.summary, 'ran 0, skipped 0, failed 2')
})

Sweep('a parameter named __proto__ is recorded like any other, not dropped as an object\'s prototype', async ({ proto, store }) => {
  assert.is(proto.status, 0, proto.stderr)
  const [row] = sweepTable(proto.stdout).rows
  // Entries, not objects: deep equality would not see an own "__proto__" key.
  assert.equal(Object.entries(row!.params), [['cycles', 1], ['__proto__', 7]])
  const run = (await runsIn(store)).find((r) => r['run'] === row!.run)
  assert.equal(Object.entries(run?.['params'] as object), [['cycles', 1], ['__proto__', 7]])
})

Sweep.run()
