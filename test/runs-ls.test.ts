import { spawnSync } from 'node:child_process'
import * as assert from 'uvu/assert'
import { addBlob, appendEvents } from '../src/index.ts'
import { bytes, commitForeign, sealChain, specSuite } from './_helpers/store.ts'
import { cliContext, expectError, expectOk, lines, snap, withLibrary } from './_helpers/cli.ts'
import { hook } from './_helpers/runs.ts'
import type { CID } from 'multiformats/cid'
import type { Run, CliContext } from './_helpers/cli.ts'
import type { RunStartBody, Value } from '../src/index.ts'

// The runs are recorded through the library (appendEvents, and commitForeign for another host's run),
// so that every status can be set up without waiting for processes; `ls runs` is then run for real.

/** How a seeded run ends. */
type Ending = 'completed' | 'failed' | 'interrupted' | 'running' | 'stale'

interface Seeded {
  name: string
  from: 'A' | 'B'
  config?: 'C'
  params: Record<string, Value>
  ending: Ending
}

const SEEDED: readonly Seeded[] = [
  { name: 'R1', from: 'A', config: 'C', params: { cycles: 9, x: 'a' }, ending: 'completed' },
  { name: 'R2', from: 'A', params: { cycles: 10, x: 'b' }, ending: 'completed' },
  { name: 'R3', from: 'B', config: 'C', params: { cycles: 2.5, x: 'a' }, ending: 'failed' },
  { name: 'R4', from: 'B', params: { cycles: 100, x: 'c' }, ending: 'interrupted' },
  { name: 'R5', from: 'A', params: { cycles: 1, x: 'd' }, ending: 'running' },
  { name: 'R6', from: 'A', params: { cycles: 3, x: 'e' }, ending: 'stale' }
]

/** A pid that no process has any more: a child that has exited. */
function deadPid (): number {
  return spawnSync(process.execPath, ['-e', '']).pid!
}

interface LsContext extends CliContext {
  ids: Record<string, string>
  snapshotA: string
  snapshotB: string
  config: string
  /** Each case's `ls runs` arguments and result. */
  results: Map<string, Run>
}

/** Every `ls runs` invocation the tests look at, run in `before` two or three at a time. */
const CASES: Record<string, string[]> = {
  all: [],
  long: ['-l'],
  completed: ['--status', 'completed'],
  failed: ['--status', 'failed'],
  interrupted: ['--status', 'interrupted'],
  running: ['--status', 'running'],
  stale: ['--status', 'stale'],
  fromA: ['--from', '{A}'],
  fromB: ['--from', '{B8}'],
  config: ['--config', '{C}'],
  ge: ['--where', 'params.cycles >= 10'],
  gt: ['--where', 'params.cycles > 9'],
  lt: ['--where', 'params.cycles < 10'],
  le: ['--where', 'params.cycles <= 3'],
  eq: ['--where', 'params.cycles = 2.5'],
  ne: ['--where', 'params.cycles != 10'],
  textEq: ['--where', 'params.x = a'],
  textGt: ['--where', 'params.x > c'],
  inherited: ['--where', 'params.constructor < zzz'],
  inheritedNe: ['--where', 'params.toString != x'],
  both: ['--where', 'params.cycles < 10', '--where', 'params.cycles > 2'],
  withStatus: ['--status', 'completed', '--where', 'params.cycles < 10'],
  withFrom: ['--from', '{A}', '--where', 'params.x >= b', '--where', 'params.cycles != 3'],
  noParams: ['--where', 'cycles >= 10'],
  badOp: ['--where', 'params.cycles ~ 10'],
  badStatus: ['--status', 'paused']
}

const Ls = specSuite<LsContext>('snapstore ls runs: filters', {} as LsContext)
Ls.before(hook(async (ctx) => {
  Object.assign(ctx, await cliContext())
  ctx.ids = {}
  await withLibrary(ctx.store, async (store) => {
    const blob = async (kind: 'snapshot' | 'config', text: string): Promise<CID> => (await addBlob(store, kind, bytes(text))).id
    const snapshots = { A: await blob('snapshot', 'A'), B: await blob('snapshot', 'B') }
    const config = await blob('config', 'C')
    ctx.snapshotA = snapshots.A.toString()
    ctx.snapshotB = snapshots.B.toString()
    ctx.config = config.toString()
    for (const [i, seeded] of SEEDED.entries()) {
      const body: RunStartBody = { from: snapshots[seeded.from], params: seeded.params, seed: String(i), key: String(i).repeat(64), command: ['sim'] }
      if (seeded.config !== undefined) body.config = config
      if (seeded.ending === 'running') body.pid = process.pid
      if (seeded.ending === 'stale') body.pid = deadPid()
      const [start] = await appendEvents(store, [{ type: 'run.start', body }])
      const run = start!.id
      const end = await blob('snapshot', `end of ${seeded.name}`)
      await appendEvents(store, [{ type: 'run.checkpoint', body: { run, snapshot: end, cycle: 1 } }])
      if (seeded.ending === 'completed') await appendEvents(store, [{ type: 'run.end', body: { run, snapshot: end, cycle: 1 } }])
      if (seeded.ending === 'failed') await appendEvents(store, [{ type: 'run.fail', body: { run, reason: 'exit code 2', exitCode: 2, lastCheckpoint: end } }])
      if (seeded.ending === 'interrupted') await appendEvents(store, [{ type: 'run.fail', body: { run, reason: 'interrupted', signal: 'SIGTERM', lastCheckpoint: end } }])
      ctx.ids[seeded.name] = run.toString()
    }
    // R7: a run of another host whose process is gone here is running, and not stale: its pid means nothing on this host.
    const [start] = sealChain('7'.repeat(32), [{ clock: 1000, draft: { type: 'run.start', body: { from: snapshots.A, params: { cycles: 4, x: 'f' }, seed: '7', key: '7'.repeat(64), pid: deadPid() } } }], 'another-host')
    await commitForeign(store, [start!])
    ctx.ids['R7'] = start!.id.toString()
  })
  const substitute = (arg: string): string => arg.replace('{A}', ctx.snapshotA).replace('{B8}', ctx.snapshotB.slice(0, 12)).replace('{C}', ctx.config)
  ctx.results = new Map()
  const names = Object.keys(CASES)
  for (let i = 0; i < names.length; i += 3) {
    const chunk = names.slice(i, i + 3)
    const done = await Promise.all(chunk.map(async (name) => await snap(['ls', 'runs', ctx.store, ...CASES[name]!.map(substitute)])))
    chunk.forEach((name, j) => { ctx.results.set(name, done[j]!) })
  }
}))
Ls.after(hook(async (ctx) => { await ctx.dispose() }))

/** Asserts a case listed exactly these runs, in order of first appearance. */
function listed (ctx: LsContext, name: string, runs: string[]): void {
  const result = ctx.results.get(name)!
  expectOk(result, undefined, name)
  assert.equal(lines(result.stdout), runs.map((run) => ctx.ids[run]!), `ls runs ${CASES[name]!.join(' ')}`)
}

Ls('ls runs lists every run in order of first appearance', (ctx) => {
  listed(ctx, 'all', ['R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7'])
})

Ls('ls runs -l shows each run\'s status, and "running (stale)" for a run whose process is gone', (ctx) => {
  const long = lines(ctx.results.get('long')!.stdout)
  assert.is(long[0], 'run\tstatus\tfrom\tend\tconfig\tcycles\thost\tstarted\tended')
  assert.equal(long.slice(1).map((row) => row.split('\t')[1]), ['completed', 'completed', 'failed', 'interrupted', 'running', 'running (stale)', 'running'])
  assert.is(long[6]!.split('\t')[0], ctx.ids['R6'])
})

Ls('ls runs --status selects completed, failed, interrupted, running and stale runs', (ctx) => {
  listed(ctx, 'completed', ['R1', 'R2'])
  listed(ctx, 'failed', ['R3'])
  listed(ctx, 'interrupted', ['R4'])
  listed(ctx, 'running', ['R5', 'R6', 'R7'])
  listed(ctx, 'stale', ['R6'])
})

Ls('ls runs --from and --config select runs by start snapshot and config, given as any id form', (ctx) => {
  listed(ctx, 'fromA', ['R1', 'R2', 'R5', 'R6', 'R7'])
  listed(ctx, 'fromB', ['R3', 'R4'])
  listed(ctx, 'config', ['R1', 'R3'])
})

Ls('ls runs --where compares numbers as numbers with each of >= > < <= = !=', (ctx) => {
  // As text, "9" >= "10" and "100" < "9": these would list different runs.
  listed(ctx, 'ge', ['R2', 'R4'])
  listed(ctx, 'gt', ['R2', 'R4'])
  listed(ctx, 'lt', ['R1', 'R3', 'R5', 'R6', 'R7'])
  listed(ctx, 'le', ['R3', 'R5', 'R6'])
  listed(ctx, 'eq', ['R3'])
  listed(ctx, 'ne', ['R1', 'R3', 'R4', 'R5', 'R6', 'R7'])
})

Ls('ls runs --where compares text values as text', (ctx) => {
  listed(ctx, 'textEq', ['R1', 'R3'])
  listed(ctx, 'textGt', ['R5', 'R6', 'R7'])
})

Ls('a --where name the runs lack is absent even when every object inherits it (constructor, toString)', (ctx) => {
  listed(ctx, 'inherited', [])
  listed(ctx, 'inheritedNe', ['R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7'])
})

Ls('several --where conditions, and --status or --from beside them, must all hold', (ctx) => {
  listed(ctx, 'both', ['R1', 'R3', 'R6', 'R7'])
  listed(ctx, 'withStatus', ['R1'])
  listed(ctx, 'withFrom', ['R2', 'R5', 'R7'])
})

Ls('a malformed --where is E_BAD_INPUT, and an unknown --status a usage error', (ctx) => {
  for (const name of ['noParams', 'badOp']) {
    assert.match(expectError(ctx.results.get(name)!, 'E_BAD_INPUT', name), 'params.NAME OP VALUE')
  }
  expectError(ctx.results.get('badStatus')!, 'E_USAGE', 'badStatus')
})

Ls.run()
