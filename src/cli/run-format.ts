import { isoTime } from './output.ts'
import type { RunInfo } from '../runs/query.ts'

/** The highest cycle a run reached: its end's, else its last checkpoint's. */
function cyclesOf (run: RunInfo): number | undefined {
  return run.end?.cycle ?? run.checkpoints.reduce<number | undefined>((max, c) => (c.cycle === undefined ? max : Math.max(max ?? 0, c.cycle)), undefined)
}

/** The `ls runs -l` columns: run status from end config cycles host started ended. */
export function runRow (run: RunInfo): string[] {
  return [
    run.id.toString(),
    run.stale ? 'running (stale)' : run.status,
    run.start.from?.toString() ?? '-',
    run.end?.snapshot.toString() ?? '-',
    run.start.config?.toString() ?? '-',
    String(cyclesOf(run) ?? '-'),
    run.host,
    isoTime(run.started),
    run.ended === undefined ? '-' : isoTime(run.ended)
  ]
}

/** A run as JSON. */
export function runJson (run: RunInfo): Record<string, unknown> {
  return {
    run: run.id,
    status: run.status,
    stale: run.stale,
    from: run.start.from ?? null,
    end: run.end?.snapshot ?? null,
    config: run.start.config ?? null,
    params: run.start.params,
    seed: run.start.seed,
    key: run.start.key,
    command: run.start.command ?? null,
    continues: run.start.continues ?? null,
    label: run.start.label ?? null,
    trajectory: run.start.trajectory ?? null,
    batch: run.start.batch ?? null,
    previousBatch: run.start.previousBatch ?? null,
    continuedBy: run.continuedBy,
    cycles: cyclesOf(run) ?? null,
    checkpoints: run.checkpoints.map((c) => ({ snapshot: c.snapshot, cycle: c.cycle ?? null, time: isoTime(c.at.time) })),
    failure: run.fail === undefined ? null : { reason: run.fail.reason, exitCode: run.fail.exitCode ?? null, signal: run.fail.signal ?? null, lastCheckpoint: run.fail.lastCheckpoint ?? null },
    host: run.host,
    pid: run.start.pid ?? null,
    scheduler: run.start.scheduler ?? null,
    started: isoTime(run.started),
    ended: run.ended === undefined ? null : isoTime(run.ended)
  }
}
