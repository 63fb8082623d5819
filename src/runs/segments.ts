import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { NotFoundError, UsageError, isSnapstoreError } from '../errors.ts'
import { withStore } from '../store.ts'
import { makeBatchConfig } from './batches.ts'
import { listRuns } from './query.ts'
import { INPUT_FILE, OUTPUT_FILE, runSegment } from './segment.ts'
import { deriveSeed } from './run-key.ts'
import { renderTemplate } from './template.ts'
import type { CID } from 'multiformats/cid'
import type { SegmentResult, SegmentSpec } from './segment.ts'

/** How to chain segments: how many, which trajectory, the seed rule's id, a config template. */
export interface SegmentsPlan {
  segments: number
  trajectory?: string
  seedBase?: string
  template?: string
  /**
   * Run only this step of the chain (0 is the first). A later step starts from the start snapshot given,
   * else from the end snapshot of the completed run of the step before it, found in the store by its
   * trajectory and batch labels.
   */
  step?: number
}

/** Checks the plan's numbers; returns the trajectory number. */
export function checkPlan (plan: SegmentsPlan): number {
  if (!Number.isInteger(plan.segments) || plan.segments < 1) throw new UsageError(`Invalid --segments "${plan.segments}": expected a positive integer`)
  const trajectory = plan.trajectory === undefined ? 0 : Number(plan.trajectory)
  if (!Number.isInteger(trajectory) || trajectory < 0) throw new UsageError(`Invalid --trajectory "${plan.trajectory}": expected a non-negative integer`)
  if (plan.step !== undefined && (!Number.isInteger(plan.step) || plan.step < 0 || plan.step >= plan.segments)) throw new UsageError(`Invalid --step "${plan.step}": expected an integer from 0 to ${plan.segments - 1}`)
  return trajectory
}

/**
 * Runs N segments, each starting from the previous one's end snapshot, with batch labels and, given a
 * seed base, the production-batch seed rule (id, trajectory and step as two digits each). Stops at the
 * first segment that does not complete; returns every segment's result.
 */
export async function runSegments (spec: SegmentSpec, plan: SegmentsPlan, onSegment: (result: SegmentResult, index: number) => void = () => undefined): Promise<SegmentResult[]> {
  checkPlan(plan)
  const workDir = spec.jobDir !== undefined ? resolve(spec.jobDir) : spec.workDir !== undefined ? resolve(spec.workDir) : await mkdtemp(join(tmpdir(), 'snapstore-segments-'))
  const results: SegmentResult[] = []
  // A temporary directory is removed unless a segment kept files in it that could not be stored.
  let keep = false
  try {
    const first = plan.step ?? 0
    let from = first === 0 || spec.from !== undefined ? spec.from : await endOfStep(spec, plan, first - 1)
    for (let step = first; step <= (plan.step ?? plan.segments - 1); step++) {
      const result = await runSegment(await segmentSpec(spec, plan, step, from, workDir))
      results.push(result)
      if (result.keptJobDir !== undefined) keep = true
      onSegment(result, step)
      if (result.status !== 'completed' || result.end === undefined || result.lateSignal !== undefined) break
      from = result.end
    }
  } catch (err) {
    if (isSnapstoreError(err) && err.details['keptJobDir'] !== undefined) keep = true
    throw err
  } finally {
    if (spec.jobDir === undefined && spec.workDir === undefined && !keep) await rm(workDir, { recursive: true, force: true })
  }
  return results
}

/** The spec of step `step` of a chain starting from `from`, its config rendered into `workDir` when there is a template. */
export async function segmentSpec (spec: SegmentSpec, plan: SegmentsPlan, step: number, from: SegmentSpec['from'], workDir: string): Promise<SegmentSpec> {
  const trajectory = checkPlan(plan)
  const batch = makeBatchConfig(plan.seedBase ?? '', trajectory, step)
  const segment: SegmentSpec = { ...spec, batch: batch.batch, previousBatch: batch.previous_batch }
  if (spec.jobDir === undefined) segment.workDir = workDir
  if (from === undefined) delete segment.from
  else segment.from = from
  if (plan.trajectory !== undefined) segment.trajectory = String(trajectory).padStart(2, '0')
  if (plan.seedBase !== undefined) segment.seed = batch.seed
  if (plan.template !== undefined) {
    // The template needs the seed before the config (and so the run key) exists: derive it without the config.
    segment.seed ??= deriveSeed({ ...(typeof from === 'object' ? { from } : {}), params: spec.params, command: [...spec.command, batch.batch] })
    const configFile = join(workDir, `segment-${batch.batch}.config`)
    await writeFile(configFile, await renderTemplate(plan.template, {
      seed: segment.seed ?? '',
      batch: batch.batch,
      previous_batch: batch.previous_batch,
      trajectory: segment.trajectory ?? null,
      // Relative to the job directory CMD runs in: the rendered config, and so the run key, are the same
      // wherever and whenever the segment runs, and a segment run before is recognised.
      input: INPUT_FILE,
      output: OUTPUT_FILE,
      params: spec.params
    }))
    segment.configFile = configFile
  }
  return segment
}

/** The end snapshot of the latest completed run of step `step` of this chain in `spec.store`. */
async function endOfStep (spec: SegmentSpec, plan: SegmentsPlan, step: number): Promise<CID> {
  const trajectory = checkPlan(plan)
  const { batch } = makeBatchConfig(plan.seedBase ?? '', trajectory, step)
  const wanted = plan.trajectory === undefined ? undefined : String(trajectory).padStart(2, '0')
  const command = JSON.stringify(spec.command)
  const params = sortedJson(spec.params)
  const end = await withStore(spec.store, spec.wait === undefined ? {} : { wait: spec.wait }, async (store) => {
    let found: { snapshot: CID, started: number } | undefined
    for await (const run of listRuns(store, { status: 'completed', checkpoints: false })) {
      if (run.start.batch !== batch || run.start.trajectory !== wanted || run.end === undefined) continue
      if (JSON.stringify(run.start.command) !== command || sortedJson(run.start.params) !== params) continue
      if (found === undefined || run.started >= found.started) found = { snapshot: run.end.snapshot, started: run.started }
    }
    return found?.snapshot
  })
  if (end === undefined) throw new NotFoundError(`Cannot start --step ${step + 1}: "${spec.store}" holds no completed run of batch ${batch} with this command and params`)
  return end
}

/** Params as JSON with their names in order, so that equal params compare equal whatever order they came in. */
function sortedJson (params: Record<string, unknown>): string {
  return JSON.stringify(Object.entries(params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
