import { UsageError } from '../errors.ts'
import { runSegment } from './segment.ts'
import type { CID } from 'multiformats/cid'
import type { SegmentSpec } from './segment.ts'
import type { Value } from '../types.ts'

/** What happened to one point of a sweep. */
export interface SweepRow {
  status: 'ran' | 'skipped' | 'failed' | 'interrupted'
  params: Record<string, Value>
  run: CID
  end?: CID
  exitCode: number
  /** Where files the run could not store are kept (see `SegmentResult.keptJobDir`). */
  keptJobDir?: string
}

/** Every combination of the values (batchpy's full factorial design), the first parameter varying slowest. */
export function factorial (grid: Record<string, readonly Value[]>): Array<Record<string, Value>> {
  let points: Array<Record<string, Value>> = [{}]
  for (const [name, values] of Object.entries(grid)) {
    if (values.length === 0) throw new UsageError(`Cannot sweep "${name}": it has no values`)
    points = points.flatMap((point) => values.map((value) => ({ ...point, [name]: value })))
  }
  return points
}

/**
 * Runs CMD once per point of the full factorial, up to `jobs` at a time; points whose run already
 * completed (same run key) are skipped. Results come back in factorial order. A run interrupted by a
 * signal, or an error, stops the sweep: no further point starts, and the rows are those that ran.
 */
export async function runSweep (spec: Omit<SegmentSpec, 'params'> & { params?: Record<string, Value> }, grid: Record<string, readonly Value[]>, jobs: number, onRow: (row: SweepRow) => void = () => undefined): Promise<SweepRow[]> {
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`Invalid --jobs "${jobs}": expected a positive integer`)
  const points = factorial(grid)
  const rows: SweepRow[] = new Array(points.length)
  let next = 0
  let stopped = false
  const worker = async (): Promise<void> => {
    while (!stopped && next < points.length) {
      const index = next++
      const params = { ...spec.params, ...points[index]! }
      const result = await runSegment({ ...spec, params }).catch((err: unknown) => {
        stopped = true
        throw err
      })
      if (result.status === 'interrupted' || result.lateSignal !== undefined) stopped = true
      const status = result.memoised ? 'skipped' : result.status === 'completed' ? 'ran' : result.status === 'interrupted' ? 'interrupted' : 'failed'
      const row: SweepRow = { status, params, run: result.run, exitCode: result.exitCode }
      if (result.end !== undefined) row.end = result.end
      if (result.keptJobDir !== undefined) row.keptJobDir = result.keptJobDir
      rows[index] = row
      onRow(row)
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, points.length) }, worker))
  return rows.filter((row) => row !== undefined)
}
