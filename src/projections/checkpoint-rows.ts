import { writeBatch } from '../batch.ts'
import { decode, encode } from '../codec.ts'
import { comparePositions, positionKey, prefixEnd } from '../keys.ts'
import type { Op } from '../ops.ts'
import type { Store } from '../store.ts'
import type { RunProjection, RunSnapshot } from './runs.ts'

/**
 * A run record as format 2 stores kept it: every checkpoint inside the record, rewritten whole at each
 * checkpoint (so recording N checkpoints cost O(N²)). Format 3 keeps each checkpoint as a row of its own.
 */
type LegacyRunRecord = RunProjection & { checkpoints?: RunSnapshot[] }

/** The first store format that keeps checkpoints as rows. */
export const CHECKPOINT_ROWS_FORMAT = 3

// Records rewritten per batch by the upgrade and by `foldCheckpointRows`.
const RECORDS_PER_BATCH = 1000

/** Key of a checkpoint row: the run's hex digest, then the position of its `run.checkpoint` event. */
function checkpointKey (run: string, at: RunSnapshot['at']): string {
  return `${run}:${positionKey(at)}`
}

/** The row that records one checkpoint of a run (a put of its own, whatever the run's other checkpoints). */
export function checkpointOp (run: string, checkpoint: RunSnapshot): Op {
  return { type: 'put', sublevel: 'checkpoints', key: checkpointKey(run, checkpoint.at), value: encode(checkpoint) }
}

/** The order of a run's checkpoints: by cycle (those without one last), then by position in the log. */
export function compareCheckpoints (a: RunSnapshot, b: RunSnapshot): number {
  const byCycle = (a.cycle ?? Number.MAX_SAFE_INTEGER) - (b.cycle ?? Number.MAX_SAFE_INTEGER)
  return byCycle !== 0 ? byCycle : comparePositions(a.at, b.at)
}

/** The checkpoints of a run, in checkpoint order; `record` is its run record, as stored. */
export async function readCheckpoints (store: Store, run: string, record: RunProjection): Promise<RunSnapshot[]> {
  // A format 2 store, only read so far, still holds them in the record.
  const legacy = (record as LegacyRunRecord).checkpoints
  if (legacy !== undefined) return legacy
  const rows = await store.sub.checkpoints.values({ gte: `${run}:`, lt: prefixEnd(`${run}:`) }).all()
  return rows.map((value) => decode<RunSnapshot>(value)).sort(compareCheckpoints)
}

/**
 * Moves the checkpoints of every format 2 run record into rows of their own, in bounded batches.
 * Rerunning it after an interruption completes it: a record is rewritten in the batch that writes its rows.
 */
export async function splitCheckpointRecords (store: Store): Promise<void> {
  await rewriteRuns(store, (run, record) => {
    if (record.checkpoints === undefined) return []
    const { checkpoints, ...rest } = record
    return [...checkpoints.map((checkpoint) => checkpointOp(run, checkpoint)), { type: 'put', sublevel: 'runs', key: run, value: encode(rest) }]
  })
}

/**
 * Turns the rows of a store written in format 3 into the records a format 2 store would hold for the same
 * log: each run record carries its checkpoints (an empty list for none), and a run that has checkpoints
 * but no record yet gets one of them only. Used to compare a format 2 store with a rebuild of its log.
 */
export async function foldCheckpointRows (store: Store): Promise<void> {
  let run: string | undefined
  let checkpoints: RunSnapshot[] = []
  let ops: Op[] = []
  const fold = async (): Promise<void> => {
    if (run === undefined) return
    const stored = await store.sub.runs.get(run)
    const record: LegacyRunRecord = stored === undefined ? {} : decode<RunProjection>(stored)
    ops.push({ type: 'put', sublevel: 'runs', key: run, value: encode({ ...record, checkpoints: checkpoints.sort(compareCheckpoints) }) })
    if (ops.length >= RECORDS_PER_BATCH) {
      await writeBatch(store, ops, false)
      ops = []
    }
  }
  for await (const [key, value] of store.sub.checkpoints.iterator()) {
    const owner = key.slice(0, key.indexOf(':'))
    if (owner !== run) {
      await fold()
      run = owner
      checkpoints = []
    }
    checkpoints.push(decode<RunSnapshot>(value))
  }
  await fold()
  await writeBatch(store, ops, false)
  await store.sub.checkpoints.clear()
  await rewriteRuns(store, (key, record) => record.checkpoints === undefined ? [{ type: 'put', sublevel: 'runs', key, value: encode({ ...record, checkpoints: [] }) }] : [])
}

/** Rewrites run records page by page with the writes `change` gives for each. */
async function rewriteRuns (store: Store, change: (run: string, record: LegacyRunRecord) => Op[]): Promise<void> {
  const iterator = store.sub.runs.iterator()
  try {
    for (;;) {
      const entries = await iterator.nextv(RECORDS_PER_BATCH)
      if (entries.length === 0) return
      await writeBatch(store, entries.flatMap(([run, value]) => change(run, decode<LegacyRunRecord>(value))), false)
    }
  } finally {
    await iterator.close()
  }
}
