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

// Run records split per batch by the upgrade.
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
function compareCheckpoints (a: RunSnapshot, b: RunSnapshot): number {
  const byCycle = (a.cycle ?? Infinity) - (b.cycle ?? Infinity)
  return byCycle !== 0 && !Number.isNaN(byCycle) ? byCycle : comparePositions(a.at, b.at)
}

/** The checkpoints of a run, in checkpoint order; `record` is its run record, as stored. */
export async function readCheckpoints (store: Store, run: string, record: RunProjection): Promise<RunSnapshot[]> {
  // A store not yet upgraded (only read so far, or its upgrade cut short) may still hold them in the record.
  const legacy = (record as LegacyRunRecord).checkpoints
  if (legacy !== undefined) return legacy
  const rows = await store.sub.checkpoints.values({ gte: `${run}:`, lt: prefixEnd(`${run}:`) }).all()
  return rows.map((value) => decode<RunSnapshot>(value)).sort(compareCheckpoints)
}

/**
 * Moves the checkpoints of every format 2 run record into rows of their own, in bounded batches; a record
 * left with nothing else (checkpoints of a run whose start the store lacks) is removed, as format 3 keeps
 * none. Rerunning it after an interruption completes it: a record is rewritten in the batch that writes its rows.
 */
export async function splitCheckpointRecords (store: Store): Promise<void> {
  const iterator = store.sub.runs.iterator()
  try {
    for (;;) {
      const entries = await iterator.nextv(RECORDS_PER_BATCH)
      if (entries.length === 0) return
      await writeBatch(store, entries.flatMap(([run, value]) => splitOps(run, decode<LegacyRunRecord>(value))), false)
    }
  } finally {
    await iterator.close()
  }
}

/** The writes that split one run record: none for a record that holds no checkpoints. */
function splitOps (run: string, record: LegacyRunRecord): Op[] {
  if (record.checkpoints === undefined) return []
  const { checkpoints, ...rest } = record
  const ops = checkpoints.map((checkpoint) => checkpointOp(run, checkpoint))
  ops.push(Object.keys(rest).length === 0 ? { type: 'del', sublevel: 'runs', key: run } : { type: 'put', sublevel: 'runs', key: run, value: encode(rest) })
  return ops
}
