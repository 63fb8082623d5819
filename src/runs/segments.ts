import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { UsageError } from '../errors.ts'
import { makeBatchConfig } from './batches.ts'
import { runSegment } from './segment.ts'
import { deriveSeed } from './run-key.ts'
import { renderTemplate } from './template.ts'
import type { SegmentResult, SegmentSpec } from './segment.ts'

/** How to chain segments: how many, which trajectory, the seed rule's id, a config template. */
export interface SegmentsPlan {
  segments: number
  trajectory?: string
  seedBase?: string
  template?: string
}

/**
 * Runs N segments, each starting from the previous one's end snapshot, with batch labels and, given a
 * seed base, the production-batch seed rule (id, trajectory and step as two digits each). Stops at the
 * first segment that does not complete; returns every segment's result.
 */
export async function runSegments (spec: SegmentSpec, plan: SegmentsPlan, onSegment: (result: SegmentResult, index: number) => void = () => undefined): Promise<SegmentResult[]> {
  if (!Number.isInteger(plan.segments) || plan.segments < 1) throw new UsageError(`Invalid --segments "${plan.segments}": expected a positive integer`)
  const trajectory = plan.trajectory === undefined ? 0 : Number(plan.trajectory)
  if (!Number.isInteger(trajectory) || trajectory < 0) throw new UsageError(`Invalid --trajectory "${plan.trajectory}": expected a non-negative integer`)
  const workDir = spec.jobDir !== undefined ? resolve(spec.jobDir) : spec.workDir !== undefined ? resolve(spec.workDir) : await mkdtemp(join(tmpdir(), 'snapstore-segments-'))
  const results: SegmentResult[] = []
  try {
    let from = spec.from
    for (let step = 0; step < plan.segments; step++) {
      const batch = makeBatchConfig(plan.seedBase ?? '', trajectory, step)
      const segment: SegmentSpec = { ...spec, batch: batch.batch, previousBatch: batch.previous_batch }
      if (spec.jobDir === undefined) segment.workDir = workDir
      if (from !== undefined) segment.from = from
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
          input: join(workDir, 'start.snapshot'),
          output: join(workDir, 'end.snapshot'),
          params: spec.params
        }))
        segment.configFile = configFile
      }
      const result = await runSegment(segment)
      results.push(result)
      onSegment(result, step)
      if (result.status !== 'completed' || result.end === undefined) break
      from = result.end
    }
  } finally {
    if (spec.jobDir === undefined && spec.workDir === undefined) await rm(workDir, { recursive: true, force: true })
  }
  return results
}
