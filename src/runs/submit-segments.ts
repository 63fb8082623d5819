import { mkdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { makeBatchConfig } from './batches.ts'
import { checkExecutable } from './executable.ts'
import { prepareJobStores, resolveStartAndConfig, submissionDir, submitMerge, undoOnFailure } from './job-stores.ts'
import { runArgs, snapstoreCommand } from './run-args.ts'
import { findMemoised } from './segment.ts'
import { checkPlan, segmentSpec } from './segments.ts'
import type { Submission, SubmitOptions } from './job-stores.ts'
import type { SegmentResult, SegmentSpec } from './segment.ts'
import type { SegmentsPlan } from './segments.ts'

/** One submitted segment of a chain: its batch label, its job and the job it waits for. */
export interface SubmittedSegment {
  batch: string
  job: string
  after?: string
  jobDir: string
}

/** A submitted chain: the leading segments that had already completed, the ones submitted, and the submission. */
export interface SegmentsSubmission {
  memoised: SegmentResult[]
  submitted: SubmittedSegment[]
  submission?: Submission
}

/**
 * Puts a chain of segments on a scheduler: one job per segment not yet completed, each waiting for the
 * one before it to succeed and running `snapstore run --job-dir --step K` into its own job store, which
 * reads its start from the job store before it; a last job merges them home.
 */
export async function submitSegments (spec: SegmentSpec, plan: SegmentsPlan, options: SubmitOptions): Promise<SegmentsSubmission> {
  checkPlan(plan)
  await checkExecutable(spec.command[0] ?? '')
  await options.scheduler.check()
  const inputs = await resolveStartAndConfig(spec.store, spec.from, spec.config, options)
  const dir = await submissionDir(spec.store, 'segments', options)
  const dirs = Array.from({ length: plan.segments }, (_, step) => join(dir, `segment-${makeBatchConfig('', 0, step).batch}`))
  const template = plan.template === undefined ? {} : { template: resolve(plan.template) }
  return await undoOnFailure(dir, options.scheduler, async (jobs) => {
    const memoised: SegmentResult[] = []
    let from = inputs.from
    if (spec.force !== true) {
      // Segments that already completed (same run key, with their config rendered where the job would) are not submitted again.
      for (let step = 0; step < plan.segments; step++) {
        await mkdir(dirs[step]!, { recursive: true })
        const done = await findMemoised(await segmentSpec({ ...spec, ...inputs, ...(from === undefined ? {} : { from }), jobDir: dirs[step]! }, { ...plan, ...template }, step, from, dirs[step]!))
        if (done?.end === undefined) break
        memoised.push(done)
        from = done.end
      }
    }
    const first = memoised.length
    if (first === plan.segments) {
      await rm(dir, { recursive: true, force: true })
      return { memoised, submitted: [] }
    }
    for (const done of dirs.slice(0, first)) await rm(done, { recursive: true, force: true })
    const pending = dirs.slice(first)
    // The first job's store gets the inputs; each later job copies its own from the store before it.
    const stores = [
      ...await prepareJobStores(spec.store, pending.slice(0, 1), [
        ...(from === undefined ? [] : [{ id: from, kind: 'snapshot' as const }]),
        ...(inputs.config === undefined ? [] : [{ id: inputs.config, kind: 'config' as const }])
      ], options),
      ...await prepareJobStores(spec.store, pending.slice(1), [], options)
    ]
    const chain = ['--segments', String(plan.segments), ...(plan.trajectory === undefined ? [] : ['--trajectory', plan.trajectory]), ...(plan.seedBase === undefined ? [] : ['--seed-base', plan.seedBase]), ...(template.template === undefined ? [] : ['--template', template.template])]
    const submitted: SubmittedSegment[] = []
    for (let index = 0; index < pending.length; index++) {
      const step = first + index
      // The first job starts from its own job store; each later one from the end recorded in the store before it.
      const readFrom = index === 0 ? stores[0]! : stores[index - 1]!
      const segment = { ...spec, ...(inputs.config === undefined ? {} : { config: inputs.config }) }
      delete segment.from
      if (index === 0 && from !== undefined) segment.from = from
      const args = [...runArgs(readFrom, pending[index]!, segment), ...chain, '--step', String(step), '--', ...spec.command]
      const before = submitted.at(-1)?.job
      const job = await options.scheduler.submit({ name: `snapstore-segment-${makeBatchConfig('', 0, step).batch}`, dir, tasks: [snapstoreCommand(...args)], ...(before === undefined ? {} : { after: { jobs: [before], when: 'ok' as const } }), resources: options.resources })
      jobs.push(job.id)
      submitted.push({ batch: makeBatchConfig('', 0, step).batch, job: job.id, jobDir: pending[index]!, ...(before === undefined ? {} : { after: before }) })
    }
    return { memoised, submitted, submission: await submitMerge(spec.store, dir, stores, submitted.map((s) => s.job), options) }
  })
}
