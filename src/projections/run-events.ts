import { writeBatch } from '../batch.ts'
import { openEvent } from '../event-format.ts'
import { prefixEnd } from '../keys.ts'
import { runEventOp, runOf } from './runs.ts'
import type { Op } from '../ops.ts'
import type { Store } from '../store.ts'

// Events read per batch while the index is built.
const PAGE = 1000

/**
 * Lists every run event of the log in the run-events index, in bounded batches: the upgrade to format 3
 * builds it once. An event that cannot be read is left out (verify reports it).
 */
export async function indexRunEvents (store: Store): Promise<void> {
  const iterator = store.sub.event.iterator()
  try {
    for (let entries = await iterator.nextv(PAGE); entries.length > 0; entries = await iterator.nextv(PAGE)) {
      const ops: Op[] = []
      for (const [key, bytes] of entries) {
        let stored
        try {
          stored = openEvent(bytes, key)
        } catch {
          continue
        }
        const run = runOf(stored)
        if (run !== undefined) ops.push(runEventOp(run, stored.event))
      }
      await writeBatch(store, ops, false)
    }
  } finally {
    await iterator.close()
  }
}

/** The log keys (`clock:origin:seq`) of a run's events, in total order. */
export async function runEventPositions (store: Store, run: string): Promise<string[]> {
  const keys = await store.sub.runEvents.keys({ gte: `${run}:`, lt: prefixEnd(`${run}:`) }).all()
  return keys.map((key) => key.slice(run.length + 1))
}
