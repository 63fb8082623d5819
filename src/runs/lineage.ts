import { prefixEnd } from '../keys.ts'
import { requireRun } from './query.ts'
import { DAG_CBOR, cidFromHex, digestHex } from '../ids.ts'
import type { CID } from 'multiformats/cid'
import type { Store } from '../store.ts'
import type { RunInfo } from './query.ts'

/** One step of a snapshot's history: the run that produced `snapshot`, as its end or as a checkpoint. */
export interface LineageStep {
  run: RunInfo
  snapshot: CID
  role: 'end' | 'checkpoint'
  cycle?: number
}

/** The runs a snapshot was produced by (as end or checkpoint), earliest first. */
export async function producersOf (store: Store, snapshot: CID): Promise<Array<{ run: CID, role: 'end' | 'checkpoint' }>> {
  const found: Array<{ run: CID, role: 'end' | 'checkpoint', key: string }> = []
  for (const role of ['end', 'checkpoint'] as const) {
    const prefix = `${digestHex(snapshot)}:${role}:`
    for await (const key of store.sub.lineage.keys({ gte: prefix, lt: prefixEnd(prefix) })) {
      found.push({ run: cidFromHex(DAG_CBOR, key.slice(key.lastIndexOf(':') + 1)), role, key: key.slice(prefix.length) })
    }
  }
  return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(({ run, role }) => ({ run, role }))
}

/** The runs that started from a snapshot, earliest first. */
export async function runsFrom (store: Store, snapshot: CID): Promise<CID[]> {
  const prefix = `${digestHex(snapshot)}:from:`
  const runs: CID[] = []
  for await (const key of store.sub.lineage.keys({ gte: prefix, lt: prefixEnd(prefix) })) runs.push(cidFromHex(DAG_CBOR, key.slice(key.lastIndexOf(':') + 1)))
  return runs
}

/**
 * How a snapshot came to be: the chain of runs back to a root snapshot that no run produced (or a run
 * with no start snapshot), oldest first.
 */
export async function lineageOf (store: Store, snapshot: CID): Promise<{ root: CID | undefined, steps: LineageStep[] }> {
  const steps: LineageStep[] = []
  const seen = new Set<string>()
  let current: CID | undefined = snapshot
  while (current !== undefined && !seen.has(current.toString())) {
    seen.add(current.toString())
    const producers = await producersOf(store, current)
    const first = producers[0]
    if (first === undefined) break
    // A run whose end equals its last checkpoint produced it as its end.
    const producer = producers.find((p) => p.role === 'end' && p.run.equals(first.run)) ?? first
    const run = await requireRun(store, producer.run)
    const step: LineageStep = { run, snapshot: current, role: producer.role }
    const cycle = producer.role === 'end' ? run.end?.cycle : run.checkpoints.find((c) => c.snapshot.equals(current!))?.cycle
    if (cycle !== undefined) step.cycle = cycle
    steps.push(step)
    current = run.start.from
    if (current === undefined) return { root: undefined, steps: steps.reverse() }
  }
  return { root: current, steps: steps.reverse() }
}

