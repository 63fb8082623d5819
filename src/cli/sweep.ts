import { UsageError } from '../errors.ts'
import { submitSweep } from '../runs/submit-sweep.ts'
import { factorial, runSweep } from '../runs/sweep.ts'
import { submitOptions } from './cluster-options.ts'
import { integerOption, storeInit } from './context.ts'
import { parseValue } from './run.ts'
import { writeJson, writeLine } from './output.ts'
import { reportSubmission } from './submission-format.ts'
import type { SubmitOptions } from '../runs/job-stores.ts'
import type { SegmentSpec } from '../runs/segment.ts'
import type { Value } from '../types.ts'
import type { ClusterOptions } from './cluster-options.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore sweep`. */
export interface SweepOptions extends StoreCommandOptions, ClusterOptions {
  from?: string
  config?: string
  param: string[]
  jobs?: string
  force?: boolean
}

/** Parses `--param NAME=V1,V2,…` into the grid of a full factorial. */
function parseGrid (pairs: readonly string[]): Record<string, Value[]> {
  const grid = new Map<string, Value[]>()
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at <= 0) throw new UsageError(`Invalid --param "${pair}": expected NAME=V1,V2,…`)
    const name = pair.slice(0, at)
    if (grid.has(name)) throw new UsageError(`Invalid --param "${pair}": ${name} is given twice (give its values once, separated by commas)`)
    const values = pair.slice(at + 1).split(',').map((v) => parseValue(v.trim()))
    const repeated = values.find((value, i) => values.indexOf(value) !== i)
    if (repeated !== undefined) throw new UsageError(`Invalid --param "${pair}": the value ${String(repeated)} is given twice`)
    grid.set(name, values)
  }
  if (grid.size === 0) throw new UsageError('Cannot sweep: give at least one --param NAME=V1,V2,…')
  // Each name an own property, "__proto__" too (an assignment would set the prototype instead).
  return Object.fromEntries(grid)
}

/** `snapstore sweep STORE --from ID --param NAME=V1,V2,… [--jobs N] -- CMD`: the full factorial, memoised runs skipped. */
export async function sweep (store: string, command: string[], options: SweepOptions): Promise<void> {
  if (command.length === 0) throw new UsageError('Cannot sweep: no command given after "--"')
  const init = storeInit(options)
  const cluster = submitOptions(options, init)
  const spec = { store, command, ...init, ...(options.from === undefined ? {} : { from: options.from }), ...(options.config === undefined ? {} : { config: options.config }), ...(options.force === true ? { force: true } : {}), ...(options.json === true ? { stdoutToStderr: true } : {}) }
  if (cluster !== undefined) {
    await submitted(spec, parseGrid(options.param), cluster, options)
    return
  }
  if (options.jobDir !== undefined) throw new UsageError('Cannot use --job-dir without --on slurm: a local sweep records into STORE')
  const grid = parseGrid(options.param)
  const rows = await runSweep(spec, grid, integerOption('--jobs', options.jobs ?? '1'))
  const count = (status: string): number => rows.filter((row) => row.status === status).length
  // A sweep stops early only when a signal stopped it (an error throws): the points it did not start are said.
  const notStarted = factorial(grid).length - rows.length
  const stopped = count('interrupted') > 0 || notStarted > 0
  if (options.json === true) {
    for (const row of rows) await writeJson(row)
  } else {
    await writeLine(['status', 'run', 'end', 'params'].join('\t'))
    for (const row of rows) await writeLine([row.status, row.run.toString(), row.end?.toString() ?? '-', JSON.stringify(row.params)].join('\t'))
    const cut = stopped ? `, interrupted ${count('interrupted')}, not started ${notStarted}` : ''
    await writeLine(`ran ${count('ran')}, skipped ${count('skipped')}, failed ${count('failed')}${cut}`)
  }
  for (const row of rows) if (row.keptJobDir !== undefined) process.stderr.write(`snapstore: files of run ${row.run.toString()} that could not be stored are kept in ${row.keptJobDir}\n`)
  if (stopped) {
    process.stderr.write(`snapstore: interrupted: ${notStarted} ${notStarted === 1 ? 'point' : 'points'} of the sweep not started (run the sweep again to run them: completed points are skipped)\n`)
    // As an interrupted run exits: 128 + the signal (130 for SIGINT, 143 for SIGTERM).
    process.exitCode = rows.find((row) => row.status === 'interrupted')?.exitCode ?? 130
  } else if (count('failed') > 0) process.exitCode = 1
}

/** Submits the sweep and prints its table: skipped points with their runs, submitted points with their array tasks. */
async function submitted (spec: Omit<SegmentSpec, 'params'>, grid: Record<string, Value[]>, cluster: SubmitOptions, options: SweepOptions): Promise<void> {
  const { rows, submission } = await submitSweep(spec, grid, { ...cluster, ...(options.jobs === undefined ? {} : { jobs: integerOption('--jobs', options.jobs) }) })
  const count = (status: string): number => rows.filter((row) => row.status === status).length
  if (options.json === true) {
    for (const row of rows) await writeJson({ ...row, run: row.run ?? null, end: row.end ?? null, job: row.job ?? null })
  } else {
    await writeLine(['status', 'job', 'run', 'end', 'params'].join('\t'))
    for (const row of rows) await writeLine([row.status, row.job ?? '-', row.run?.toString() ?? '-', row.end?.toString() ?? '-', JSON.stringify(row.params)].join('\t'))
  }
  if (submission !== undefined) await reportSubmission(submission, spec.store, options)
  if (options.json !== true) await writeLine(`ran 0, skipped ${count('skipped')}, failed 0, submitted ${count('submitted')}`)
}
