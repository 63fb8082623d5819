import { constants } from 'node:os'
import { DECIMAL } from '../conditions.ts'
import { UsageError } from '../errors.ts'
import { runSegment } from '../runs/segment.ts'
import { runSegments } from '../runs/segments.ts'
import { submitSegments } from '../runs/submit-segments.ts'
import { submitOptions } from './cluster-options.ts'
import { integerOption, parsePairs, storeInit } from './context.ts'
import { writeJson, writeLine } from './output.ts'
import { reportSubmission } from './submission-format.ts'
import type { SegmentResult, SegmentSpec } from '../runs/segment.ts'
import type { Value } from '../types.ts'
import type { SegmentsSubmission } from '../runs/submit-segments.ts'
import type { ClusterOptions } from './cluster-options.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore run`. */
export interface RunOptions extends StoreCommandOptions, ClusterOptions {
  from?: string
  config?: string
  param: string[]
  seed?: string
  jobDir?: string
  force?: boolean
  segments?: string
  trajectory?: string
  seedBase?: string
  template?: string
  step?: string
  label?: string
}

/** Parses `--param K=V` values: numbers become numbers, so `--where` compares them as numbers. */
function parseParams (pairs: readonly string[]): Record<string, Value> {
  return Object.fromEntries(Object.entries(parsePairs(pairs, '--param')).map(([key, text]) => [key, parseValue(text)]))
}

/**
 * A parameter value from the command line: a number when it reads as a decimal one (`300`, `2.0`, `1e-6`:
 * numbers compare as numbers, so `2.0` and `2` are one value), else the text, as is one with leading zeros
 * (`007`, an identifier more than a number), and one a number cannot hold: past the largest double (`1e400`),
 * below the smallest (`1e-400`), or a whole number whose digits a double does not keep (`12345678901234567890`,
 * an identifier too; `100000000000000000000` it keeps, as `1e20`).
 */
export function parseValue (text: string): Value {
  if (!DECIMAL.test(text)) return text
  const value = Number(text)
  if (!Number.isFinite(value) || (value === 0 && /[1-9]/.test(text.split(/[eE]/)[0]!))) return text
  if (WHOLE.test(text) && BigInt(text) !== BigInt(value)) return text
  return value
}

const WHOLE = /^-?\d+$/

/** `snapstore run STORE … -- CMD`: runs CMD as one segment, or N chained segments. */
export async function run (store: string, command: string[], options: RunOptions): Promise<void> {
  if (command.length === 0) throw new UsageError('Cannot run: no command given after "--"')
  const init = storeInit(options)
  const cluster = submitOptions(options, init)
  const spec: SegmentSpec = { store, command, params: parseParams(options.param), ...init }
  if (options.from !== undefined) spec.from = options.from
  if (options.config !== undefined) spec.config = options.config
  if (options.seed !== undefined) spec.seed = options.seed
  if (options.jobDir !== undefined && cluster === undefined) spec.jobDir = options.jobDir
  if (options.force === true) spec.force = true
  if (options.label !== undefined) spec.label = options.label
  if (options.json === true) spec.stdoutToStderr = true
  if (options.segments === undefined) {
    if (options.trajectory !== undefined || options.seedBase !== undefined || options.template !== undefined || options.step !== undefined) throw new UsageError('Cannot use --trajectory, --seed-base, --template or --step without --segments')
    if (cluster !== undefined) throw new UsageError(`Cannot use --on ${cluster.scheduler.name} without --segments: a single run on a cluster is --segments 1`)
    await report(await runSegment(spec), options)
    return
  }
  if (options.seed !== undefined && options.seedBase !== undefined) throw new UsageError('Cannot use --seed with --seed-base: the seed base gives each segment its seed')
  const plan = {
    segments: integerOption('--segments', options.segments),
    ...(options.trajectory === undefined ? {} : { trajectory: options.trajectory }),
    ...(options.seedBase === undefined ? {} : { seedBase: options.seedBase }),
    ...(options.template === undefined ? {} : { template: options.template }),
    ...(options.step === undefined ? {} : { step: integerOption('--step', options.step) })
  }
  if (cluster !== undefined) {
    if (options.step !== undefined) throw new UsageError(`Cannot use --step with --on ${cluster.scheduler.name}: the chain is submitted whole`)
    await reportSubmitted(await submitSegments(spec, plan, cluster), store, options)
    return
  }
  const results = await runSegments(spec, plan)
  for (const result of results) await report(result, options)
  // A chain a signal stopped between segments exits as an interrupted run does.
  const late = results.at(-1)?.lateSignal
  const planned = plan.step !== undefined ? 1 : plan.segments
  if (late !== undefined && results.length < planned && process.exitCode === undefined) process.exitCode = 128 + (constants.signals[late] ?? 1)
}

/** Prints a submitted chain: the segments already completed, each job submitted, and how the job stores come home. */
async function reportSubmitted ({ memoised, submitted, submission }: SegmentsSubmission, store: string, options: RunOptions): Promise<void> {
  for (const result of memoised) await report(result, options)
  for (const segment of submitted) {
    if (options.json === true) await writeJson(segment)
    else await writeLine(`submitted segment ${segment.batch} as ${submission?.scheduler ?? ''} job ${segment.job}${segment.after === undefined ? '' : `, after job ${segment.after} succeeds`}`)
  }
  if (submission !== undefined) await reportSubmission(submission, store, options)
}

/** Prints how a segment ended; the exit status is CMD's (1 when it wrote no output). */
export async function report (result: SegmentResult, options: { json?: boolean }): Promise<void> {
  if (options.json === true) {
    await writeJson(result)
  } else if (result.status === 'completed') {
    await writeLine(`Run start and end hashes: ${result.from?.toString() ?? '-'}, ${result.end?.toString() ?? '-'}`)
  }
  if (result.memoised) process.stderr.write(`snapstore: run ${result.run.toString()} already completed with the same start, config, params, seed and command; not run again (use --force to rerun)\n`)
  if (result.status !== 'completed') {
    const why = result.reason === undefined || result.reason === result.status ? '' : `: ${result.reason}`
    process.stderr.write(`snapstore: run ${result.run.toString()} ${result.status}${why} (recorded in the store)\n`)
  }
  if (result.keptJobDir !== undefined) process.stderr.write(`snapstore: files of run ${result.run.toString()} that could not be stored are kept in ${result.keptJobDir}\n`)
  if (result.exitCode !== 0) process.exitCode = result.exitCode
}
