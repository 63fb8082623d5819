import { BadInputError, LockedError, UsageError } from '../errors.ts'
import { resolveId } from '../resolve.ts'
import { requireRun } from '../runs/query.ts'
import { resumePoint } from '../runs/resume-point.ts'
import { runSegment } from '../runs/segment.ts'
import { withStore } from '../store.ts'
import { hostname } from 'node:os'
import { storeInit } from './context.ts'
import { report } from './run.ts'
import { comparePositions } from '../keys.ts'
import type { SegmentSpec } from '../runs/segment.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore resume`. */
export type ResumeOptions = StoreCommandOptions

/** `snapstore resume STORE RUN -- CMD`: a new run that continues RUN from its last checkpoint, same config and params. */
export async function resume (store: string, runText: string, command: string[], options: ResumeOptions): Promise<void> {
  if (command.length === 0) throw new UsageError('Cannot resume: no command given after "--"')
  const init = storeInit(options)
  const previous = await withStore(store, init, async (s) => await requireRun(s, await resolveId(s, runText, 'event')))
  if (previous.status === 'completed') throw new BadInputError(`Cannot resume run ${previous.id.toString()}: it completed; start a new run from its end snapshot instead`)
  const [next] = previous.continuedBy
  if (next !== undefined) throw new BadInputError(`Cannot resume run ${previous.id.toString()}: run ${next.toString()} already continues it; resume that one instead`)
  if (previous.status === 'running' && previous.host === hostname() && !previous.stale) {
    throw new LockedError(`Cannot resume run ${previous.id.toString()}: it is still running here (wrapper process ${previous.start.pid ?? '?'} is alive)`)
  }
  // A run whose wrapper was killed left no lastCheckpoint: the same rule picks among its checkpoints, in the order recorded.
  const recorded = [...previous.checkpoints].sort((a, b) => comparePositions(a.at, b.at))
  const last = previous.fail?.lastCheckpoint ?? resumePoint(recorded)?.snapshot ?? previous.start.from
  const spec: SegmentSpec = { store, command, params: previous.start.params, seed: previous.start.seed, continues: previous.id, ...init }
  if (last !== undefined) spec.from = last
  if (previous.start.config !== undefined) spec.config = previous.start.config
  for (const field of ['trajectory', 'batch', 'previousBatch', 'label'] as const) {
    const value = previous.start[field]
    if (value !== undefined && value !== null) spec[field] = value
  }
  if (options.json === true) spec.stdoutToStderr = true
  await report(await runSegment(spec), options)
}
