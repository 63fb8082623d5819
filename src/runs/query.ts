import { hostname } from 'node:os'
import { decode } from '../codec.ts'
import { conditionsHold } from '../conditions.ts'
import { NotFoundError } from '../errors.ts'
import { DAG_CBOR, cidFromHex, digestHex } from '../ids.ts'
import { prefixEnd } from '../keys.ts'
import { runStatus } from '../projections/runs.ts'
import { readCheckpoints } from '../projections/checkpoint-rows.ts'
import { processAlive } from '../process-alive.ts'
import { BULK_READ } from '../store.ts'
import type { CID } from 'multiformats/cid'
import type { RunProjection, RunSnapshot, RunStatus } from '../projections/runs.ts'
import type { Store } from '../store.ts'
import type { ParamCondition } from '../conditions.ts'
import type { OperationOptions, RunStartBody } from '../types.ts'

/** A run as the projections describe it. */
export interface RunInfo {
  id: CID
  status: RunStatus
  /** True for a `running` run recorded on this host whose wrapper process is gone. */
  stale: boolean
  start: RunStartBody
  host: string
  origin: string
  started: number
  ended?: number
  end?: RunSnapshot
  checkpoints: RunSnapshot[]
  fail?: RunProjection['fail']
  /** Runs that continue this one. */
  continuedBy: CID[]
}

/** Filters for listing runs; every given filter must hold. */
export interface RunFilter extends OperationOptions {
  status?: RunStatus | 'stale'
  from?: CID
  config?: CID
  where?: ParamCondition[]
  /** False to leave each run's `checkpoints` empty, for a listing that shows none (they are rows of their own to read). @default true */
  checkpoints?: boolean
}

const PAGE = 500

/** Iterates runs in order of first appearance, with optional filters. */
export async function * listRuns (store: Store, filter: RunFilter = {}): AsyncGenerator<RunInfo> {
  const iterator = store.sub.runOrder.keys(BULK_READ)
  try {
    for (;;) {
      filter.signal?.throwIfAborted()
      const keys = await iterator.nextv(PAGE)
      if (keys.length === 0) return
      const runs = keys.map((key) => key.slice(key.lastIndexOf(':') + 1))
      const values = await store.sub.runs.getMany(runs)
      const kept: Array<{ run: string, info: RunInfo, record: RunProjection }> = []
      runs.forEach((run, i) => {
        const record = values[i] === undefined ? undefined : decode<RunProjection>(values[i]!)
        const info = record === undefined ? undefined : runInfoOf(run, record)
        if (info !== undefined && matches(info, filter)) kept.push({ run, info, record: record! })
      })
      // One range read per run, all of the page's at once: the database answers them on several threads.
      if (filter.checkpoints !== false) await Promise.all(kept.map(async ({ run, info, record }) => { info.checkpoints = await readCheckpoints(store, run, record) }))
      for (const { info } of kept) yield info
    }
  } finally {
    await iterator.close()
  }
}

/** What the projections know of one run, or undefined when the id is not a run. */
export async function describeRun (store: Store, id: CID): Promise<RunInfo | undefined> {
  const value = await store.sub.runs.get(digestHex(id))
  if (value === undefined) return undefined
  const run = digestHex(id)
  const record = decode<RunProjection>(value)
  const info = runInfoOf(run, record)
  if (info !== undefined) info.checkpoints = await readCheckpoints(store, run, record)
  return info
}

/** The run with this id; `E_NOT_FOUND` when the id names no run. */
export async function requireRun (store: Store, id: CID): Promise<RunInfo> {
  const run = await describeRun(store, id)
  if (run === undefined) throw new NotFoundError(`Cannot find run "${id.toString()}": no run.start has that id`)
  return run
}

/** The runs with this run key, whatever their status, oldest first. */
export async function runsWithKey (store: Store, key: string): Promise<RunInfo[]> {
  const found: RunInfo[] = []
  for await (const entry of store.sub.runKeys.keys({ gte: `${key}:`, lt: prefixEnd(`${key}:`) })) {
    const run = await describeRun(store, cidFromHex(DAG_CBOR, entry.slice(key.length + 1)))
    if (run !== undefined) found.push(run)
  }
  return found.sort((a, b) => a.started - b.started)
}

/** The completed runs with this run key, oldest first. */
export async function completedRunsWithKey (store: Store, key: string): Promise<RunInfo[]> {
  return (await runsWithKey(store, key)).filter((run) => run.status === 'completed')
}

/** What a run record says of a run, its checkpoints (rows of their own) still to be read; undefined without a start. */
function runInfoOf (run: string, record: RunProjection): RunInfo | undefined {
  if (record.start === undefined) return undefined
  const status = runStatus(record)
  const info: RunInfo = {
    id: cidFromHex(DAG_CBOR, run),
    status,
    stale: status === 'running' && record.start.host === hostname() && record.start.body.pid !== undefined && !processAlive(record.start.body.pid),
    start: record.start.body,
    host: record.start.host,
    origin: record.start.at.origin,
    started: record.start.at.time,
    checkpoints: [],
    continuedBy: (record.continuedBy ?? []).map((hex) => cidFromHex(DAG_CBOR, hex))
  }
  const ended = record.end?.at.time ?? record.fail?.at.time
  if (ended !== undefined) info.ended = ended
  if (record.end !== undefined) info.end = record.end
  if (record.fail !== undefined) info.fail = record.fail
  return info
}

function matches (run: RunInfo, filter: RunFilter): boolean {
  if (filter.status === 'stale' ? !run.stale : filter.status !== undefined && run.status !== filter.status) return false
  if (filter.from !== undefined && (run.start.from === undefined || !run.start.from.equals(filter.from))) return false
  if (filter.config !== undefined && (run.start.config === undefined || !run.start.config.equals(filter.config))) return false
  return conditionsHold(run.start.params, filter.where ?? [])
}
