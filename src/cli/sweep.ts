import { UsageError } from '../errors.ts'
import { runSweep } from '../runs/sweep.ts'
import { storeInit } from './context.ts'
import { parseValue } from './run.ts'
import { writeJson, writeLine } from './output.ts'
import type { Value } from '../types.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore sweep`. */
export interface SweepOptions extends StoreCommandOptions {
  from?: string
  config?: string
  param: string[]
  jobs: string
  force?: boolean
}

/** Parses `--param NAME=V1,V2,…` into the grid of a full factorial. */
function parseGrid (pairs: readonly string[]): Record<string, Value[]> {
  const grid: Record<string, Value[]> = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at <= 0) throw new UsageError(`Invalid --param "${pair}": expected NAME=V1,V2,…`)
    grid[pair.slice(0, at)] = pair.slice(at + 1).split(',').map((v) => parseValue(v.trim()))
  }
  if (Object.keys(grid).length === 0) throw new UsageError('Cannot sweep: give at least one --param NAME=V1,V2,…')
  return grid
}

/** `snapstore sweep STORE --from ID --param NAME=V1,V2,… [--jobs N] -- CMD`: the full factorial, memoised runs skipped. */
export async function sweep (store: string, command: string[], options: SweepOptions): Promise<void> {
  if (command.length === 0) throw new UsageError('Cannot sweep: no command given after "--"')
  const spec = { store, command, ...storeInit(options), ...(options.from === undefined ? {} : { from: options.from }), ...(options.config === undefined ? {} : { config: options.config }), ...(options.force === true ? { force: true } : {}) }
  const rows = await runSweep(spec, parseGrid(options.param), Number(options.jobs))
  const count = (status: string): number => rows.filter((row) => row.status === status).length
  if (options.json === true) {
    for (const row of rows) await writeJson(row)
  } else {
    await writeLine(['status', 'run', 'end', 'params'].join('\t'))
    for (const row of rows) await writeLine([row.status, row.run.toString(), row.end?.toString() ?? '-', JSON.stringify(row.params)].join('\t'))
    await writeLine(`ran ${count('ran')}, skipped ${count('skipped')}, failed ${count('failed')}`)
  }
  if (count('failed') > 0) process.exitCode = 1
}

