import { decode, encode } from '../codec.ts'
import { cidStringBytes, digestHex } from '../ids.ts'
import { comparePositions, positionKey } from '../keys.ts'
import { checkpointOp } from './checkpoint-rows.ts'
import { NO_VALUE } from '../ops.ts'
import type { CID } from 'multiformats/cid'
import type { Op, StateReader } from '../ops.ts'
import type { EventPosition, RunStartBody, SnapEvent, StoredEvent } from '../types.ts'
import type { TimedPosition } from './blobs.ts'

/** The status of a run: `running` until a `run.end` (completed) or `run.fail` (failed, or interrupted). */
export type RunStatus = 'running' | 'completed' | 'failed' | 'interrupted'

/** A checkpoint or end snapshot of a run. */
export interface RunSnapshot {
  snapshot: CID
  cycle?: number
  at: TimedPosition
}

/**
 * What the run record keeps of one run; each field is a join over the run's events, in any order.
 * Its checkpoints are rows of their own (see checkpoint-rows.ts), so recording one writes one row.
 */
export interface RunProjection {
  start?: { body: RunStartBody, at: TimedPosition, host: string }
  /** Runs that continue this one (resumed it), by id. */
  continuedBy?: string[]
  end?: RunSnapshot
  fail?: { reason: string, exitCode?: number, signal?: string, lastCheckpoint?: CID, at: TimedPosition }
}

/** Where a snapshot stands in a run, for lineage: the run started from it, or produced it. */
export type LineageRole = 'from' | 'checkpoint' | 'end'

/** Key of a lineage entry: snapshot, role, position of the event, run. */
function lineageKey (snapshot: CID, role: LineageRole, at: TimedPosition, run: string): string {
  return `${digestHex(snapshot)}:${role}:${positionKey(at)}:${run}`
}

/** The status a run projection implies. */
export function runStatus (run: RunProjection): RunStatus {
  if (run.end !== undefined) return 'completed'
  if (run.fail !== undefined) return run.fail.reason === 'interrupted' ? 'interrupted' : 'failed'
  // A run another run continues was resumed: its wrapper is gone, whatever it last recorded.
  return (run.continuedBy ?? []).length > 0 ? 'interrupted' : 'running'
}

type RunEvent = Extract<SnapEvent, { type: 'run.start' | 'run.checkpoint' | 'run.end' | 'run.fail' }>

/** The run a run event belongs to, as a hex digest. */
export function runOf ({ id, event }: StoredEvent): string | undefined {
  if (event.type === 'run.start') return digestHex(id)
  if (event.type === 'run.checkpoint' || event.type === 'run.end' || event.type === 'run.fail') return digestHex(event.body.run)
  return undefined
}

/** The run projection keys a run event reads: its run's, and for a resuming run.start the continued run's; none for a checkpoint. */
export function runKeysNeeded (stored: StoredEvent): Array<['runs', string]> {
  if (stored.event.type === 'run.checkpoint') return []
  const keys: Array<['runs', string]> = [['runs', runOf(stored)!]]
  if (stored.event.type === 'run.start' && stored.event.body.continues !== undefined) keys.push(['runs', digestHex(stored.event.body.continues)])
  return keys
}

/** The row that lists a run event among its run's events. */
export function runEventOp (run: string, at: EventPosition): Op {
  return { type: 'put', sublevel: 'runEvents', key: `${run}:${positionKey(at)}`, value: NO_VALUE }
}

/** Updates of the run and lineage projections caused by one run event, given the current state. */
export function runEventOps (stored: StoredEvent & { event: RunEvent }, state: StateReader): Op[] {
  const run = runOf(stored)!
  const at: TimedPosition = { clock: stored.event.clock, origin: stored.event.origin, seq: stored.event.seq, time: stored.event.time }
  return [runEventOp(run, at), ...runRecordOps(stored, run, at, state)]
}

/** The run record, checkpoint and lineage updates of one run event. */
function runRecordOps (stored: StoredEvent & { event: RunEvent }, run: string, at: TimedPosition, state: StateReader): Op[] {
  const { event } = stored
  if (event.type === 'run.checkpoint') {
    return [
      checkpointOp(run, withCycle({ snapshot: event.body.snapshot, at }, event.body.cycle)),
      { type: 'put', sublevel: 'lineage', key: lineageKey(event.body.snapshot, 'checkpoint', at, run), value: NO_VALUE }
    ]
  }
  const current = state.get('runs', run)
  const record: RunProjection = current === undefined ? {} : decode<RunProjection>(current)
  const ops: Op[] = []
  switch (event.type) {
    case 'run.start':
      record.start = { body: event.body, at, host: event.host }
      ops.push({ type: 'put', sublevel: 'runOrder', key: `${positionKey(at)}:${run}`, value: cidStringBytes(stored.id) })
      ops.push({ type: 'put', sublevel: 'runKeys', key: `${event.body.key}:${run}`, value: NO_VALUE })
      if (event.body.from !== undefined) ops.push({ type: 'put', sublevel: 'lineage', key: lineageKey(event.body.from, 'from', at, run), value: NO_VALUE })
      if (event.body.continues !== undefined) ops.push(continuedOp(digestHex(event.body.continues), run, state))
      break
    case 'run.end':
      // Every end is in the lineage; the run's end is the earliest, whatever order they arrive in.
      ops.push({ type: 'put', sublevel: 'lineage', key: lineageKey(event.body.snapshot, 'end', at, run), value: NO_VALUE })
      if (record.end !== undefined && comparePositions(record.end.at, at) <= 0) return ops
      record.end = withCycle({ snapshot: event.body.snapshot, at }, event.body.cycle)
      break
    case 'run.fail': {
      if (record.fail !== undefined && comparePositions(record.fail.at, at) <= 0) return []
      const { run: _run, ...fail } = event.body
      record.fail = { ...fail, at }
      break
    }
  }
  ops.push({ type: 'put', sublevel: 'runs', key: run, value: encode(record) })
  return ops
}

/** Notes on a continued run that `by` continues it (a set, kept sorted so any delivery order gives the same bytes). */
function continuedOp (continued: string, by: string, state: StateReader): Op {
  const current = state.get('runs', continued)
  const record: RunProjection = current === undefined ? {} : decode<RunProjection>(current)
  record.continuedBy = [...new Set([...(record.continuedBy ?? []), by])].sort()
  return { type: 'put', sublevel: 'runs', key: continued, value: encode(record) }
}

function withCycle (snapshot: RunSnapshot, cycle: number | undefined): RunSnapshot {
  return cycle === undefined ? snapshot : { ...snapshot, cycle }
}
