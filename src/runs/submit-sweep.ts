import { join } from 'node:path'
import { UsageError } from '../errors.ts'
import { checkExecutable } from './executable.ts'
import { prepareJobStores, resolveStartAndConfig, submissionDir, submitMerge, undoOnFailure } from './job-stores.ts'
import { runArgs, snapstoreCommand } from './run-args.ts'
import { findMemoised } from './segment.ts'
import { factorial } from './sweep.ts'
import type { CID } from 'multiformats/cid'
import type { Submission, SubmitOptions } from './job-stores.ts'
import type { SegmentSpec } from './segment.ts'
import type { Value } from '../types.ts'

/** One point of a submitted sweep: skipped (its run already completed) or submitted as an array task. */
export interface SubmittedSweepRow {
  status: 'skipped' | 'submitted'
  params: Record<string, Value>
  /** The completed run, for a skipped point. */
  run?: CID
  end?: CID
  /** The array task, for a submitted point. */
  job?: string
}

/** A submitted sweep: a row per point in factorial order, and the submission when anything was left to run. */
export interface SweepSubmission {
  rows: SubmittedSweepRow[]
  submission?: Submission
}

/**
 * Puts a sweep on a scheduler as one job array, a task per point whose run has not completed yet,
 * each running `snapstore run --job-dir` into its own job store; a last job merges them home.
 */
export async function submitSweep (spec: Omit<SegmentSpec, 'params'>, grid: Record<string, readonly Value[]>, options: SubmitOptions & { jobs?: number }): Promise<SweepSubmission> {
  if (options.jobs !== undefined && (!Number.isInteger(options.jobs) || options.jobs < 1)) throw new UsageError(`Invalid --jobs "${options.jobs}": expected a positive integer`)
  const points = factorial(grid)
  await checkExecutable(spec.command[0] ?? '')
  await options.scheduler.check()
  const inputs = await resolveStartAndConfig(spec.store, spec.from, spec.config, options)
  const rows: SubmittedSweepRow[] = []
  for (const params of points) {
    const done = spec.force === true ? undefined : await findMemoised({ ...spec, ...inputs, params })
    rows.push(done === undefined ? { status: 'submitted', params } : { status: 'skipped', params, run: done.run, ...(done.end === undefined ? {} : { end: done.end }) })
  }
  const pending = rows.filter((row) => row.status === 'submitted')
  if (pending.length === 0) return { rows }
  const dir = await submissionDir(spec.store, 'sweep', options)
  return await undoOnFailure(dir, options.scheduler, async (submitted) => {
    const dirs = pending.map((_, index) => join(dir, `task-${String(index).padStart(3, '0')}`))
    const kept = [...(inputs.from === undefined ? [] : [{ id: inputs.from, kind: 'snapshot' as const }]), ...(inputs.config === undefined ? [] : [{ id: inputs.config, kind: 'config' as const }])]
    const stores = await prepareJobStores(spec.store, dirs, kept, options)
    const tasks = pending.map((row, index) => snapstoreCommand(...runArgs(stores[index]!, dirs[index]!, { ...spec, ...inputs, params: row.params }), '--', ...spec.command))
    const job = await options.scheduler.submit({ name: 'snapstore-sweep', dir, tasks, ...(options.jobs === undefined ? {} : { throttle: options.jobs }), resources: options.resources })
    submitted.push(job.id)
    pending.forEach((row, index) => { row.job = job.tasks[index]! })
    return { rows, submission: await submitMerge(spec.store, dir, stores, [job.id], options) }
  })
}
