import fc from 'fast-check'
import * as assert from 'uvu/assert'
import { addBlob, listBlobIds, reindex, setTag, verifyStore } from '../../src/index.ts'
import { Workspace, blobRecordDigests, dumpDerived, eventDigests, guardedSuite, listing, seededBytes } from '../_helpers/merge.ts'
import type { BlobKind, Store } from '../../src/index.ts'
import type { Transport } from '../_helpers/merge.ts'

// Small pools, so that stores share blobs, add the same bytes as other kinds and names, and fight over tags.
const POOL: readonly Uint8Array[] = [
  ...['alpha', 'beta', 'gamma', 'delta', 'epsilon'].map((text) => new TextEncoder().encode(text)),
  new Uint8Array(0),
  seededBytes(3000, 7)
]
const KINDS: readonly BlobKind[] = ['snapshot', 'config', 'blob']
const NAMES = ['equilibrated', 'production', 'warm-up'] as const
const TAGS = ['best', 'latest'] as const
const MAX_STORES = 4

/** One thing a store does while its history is written. */
export type Step =
  | { op: 'add', store: number, blob: number, kind: BlobKind, name: string | null }
  /** Points `tag` at the blob at `pick` (modulo their number) of those the store lists; a negative `pick` takes the last. */
  | { op: 'tag', store: number, tag: string, pick: number }
  | { op: 'merge', into: number, from: number }

/** The random history of 2 to 4 stores: early steps, then some stores merge their neighbour, then late steps. */
export interface History {
  stores: number
  early: Step[]
  /** `clones[k - 1]`: store k merges store k - 1 between the early and the late steps, so both then write on a shared origin. */
  clones: boolean[]
  late: Step[]
  /** A tag every store finally points at the last blob it lists, so that tags conflict in every history. */
  finalTag: string
}

const storeIndex = fc.nat({ max: MAX_STORES - 1 })

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      store: storeIndex,
      blob: fc.nat({ max: POOL.length - 1 }),
      kind: fc.constantFrom(...KINDS),
      name: fc.option(fc.constantFrom(...NAMES), { nil: null })
    })
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('tag' as const), store: storeIndex, tag: fc.constantFrom(...TAGS), pick: fc.nat({ max: 20 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('merge' as const), into: storeIndex, from: storeIndex }) }
)

const historyArb: fc.Arbitrary<History> = fc.record({
  stores: fc.integer({ min: 2, max: MAX_STORES }),
  early: fc.array(stepArb, { minLength: 2, maxLength: 6 }),
  clones: fc.array(fc.boolean(), { minLength: MAX_STORES - 1, maxLength: MAX_STORES - 1 }),
  late: fc.array(stepArb, { minLength: 0, maxLength: 5 }),
  finalTag: fc.constantFrom(...TAGS)
})

/** Sort keys for a random order of up to MAX_STORES stores. */
const orderArb = fc.array(fc.nat({ max: 1000 }), { minLength: MAX_STORES, maxLength: MAX_STORES })
/** Where a random order is cut into groups merged separately first. */
const cutsArb = fc.array(fc.boolean(), { minLength: MAX_STORES - 1, maxLength: MAX_STORES - 1 })

/** The indices 0..n-1 ordered by `keys` (ties by index). */
function permutation (keys: readonly number[], n: number): number[] {
  return Array.from({ length: n }, (_, i) => i).sort((a, b) => (keys[a]! - keys[b]!) || a - b)
}

/** Splits an order into contiguous groups, cutting after position i where `cuts[i]`. */
function groups (order: readonly number[], cuts: readonly boolean[]): number[][] {
  const out: number[][] = [[]]
  order.forEach((index, i) => {
    out[out.length - 1]!.push(index)
    if (i < order.length - 1 && cuts[i] === true) out.push([])
  })
  return out
}

/** Options of the merge laws. */
export interface MergeLawsOptions {
  /** fast-check runs per law. */
  numRuns: number
}

/**
 * Registers the merge laws (idempotent, order-independent, monotonic, incremental projections equal a reindex)
 * as fast-check properties over random sets of stores with random histories, with every merge done through `transport`.
 */
export function mergeLaws (transport: Transport, options: MergeLawsOptions): void {
  const Laws = guardedSuite(`merge laws over a ${transport.name}`, {})
  const check = async <T>(arb: fc.Arbitrary<T>, property: (value: T) => Promise<void>): Promise<void> => {
    await fc.assert(fc.asyncProperty(arb, property), { numRuns: options.numRuns, endOnFailure: true })
  }

  Laws('merge is idempotent: merging the same sources again copies nothing and changes no projection', async () => {
    await check(fc.tuple(historyArb, orderArb, orderArb), async ([history, keys1, keys2]) => {
      await inWorld(history, transport, async (ws, sources) => {
        const dest = await ws.init('dest')
        for (const i of permutation(keys1, sources.length)) await transport.merge(ws, dest, sources[i]!)
        const once = await everything(dest)
        for (const i of permutation(keys2, sources.length)) {
          const again = await transport.merge(ws, dest, sources[i]!)
          assert.equal([again.events, again.blobs, again.bytes], [0, 0, 0], `merging store ${i} again copies nothing`)
        }
        assert.equal(await everything(dest), once, 'the destination is unchanged by merging again')
      })
    })
  })

  Laws('merge is order-independent: any order and grouping of merges gives identical listings, heads and projections, on every replica', async () => {
    await check(fc.tuple(historyArb, orderArb, orderArb, cutsArb), async ([history, keys1, keys2, cuts]) => {
      await inWorld(history, transport, async (ws, sources) => {
        const order = permutation(keys2, sources.length)
        const parts = groups(order, cuts)
        const made = await Promise.all(['one-by-one', 'grouped', ...parts.map((_, g) => `group-${g}`)].map(async (name) => await ws.init(name)))
        const one = made[0]!
        const grouped = made[1]!
        const groupStores = made.slice(2)
        for (const i of permutation(keys1, sources.length)) await transport.merge(ws, one, sources[i]!)
        for (const [g, members] of parts.entries()) {
          if (members.length === 1) {
            await transport.merge(ws, grouped, sources[members[0]!]!)
            continue
          }
          const group = groupStores[g]!
          for (const i of members) await transport.merge(ws, group, sources[i]!)
          await transport.merge(ws, grouped, group.path)
        }
        const a = await everything(one)
        const b = await everything(grouped)
        assert.equal(b.listing, a.listing, `ls output of ${JSON.stringify(groups(order, cuts))} equals that of ${JSON.stringify(permutation(keys1, sources.length))}`)
        assert.equal(b.derived, a.derived, 'every projection holds the same bytes')
        assert.equal(b.events, a.events, 'the same events')
        assert.equal(b.blobs, a.blobs, 'the same blob records')
        assert.is(b.clock, a.clock, 'the same clock')
        for (const [i, path] of sources.entries()) {
          const replica = await ws.open(path)
          await transport.merge(ws, replica, grouped.path)
          const c = await everything(replica)
          assert.equal(c.listing, a.listing, `store ${i}, once it merged everything, lists the same`)
          assert.equal(c.derived, a.derived, `store ${i}, once it merged everything, holds the same projections`)
        }
      })
    })
  })

  Laws('merge is monotonic: every event and blob the destination held is still there after a merge, and the counts say what was added', async () => {
    await check(fc.tuple(historyArb, orderArb), async ([history, keys]) => {
      await inWorld(history, transport, async (ws, sources) => {
        const [first, ...rest] = permutation(keys, sources.length)
        const dest = await ws.open(sources[first!]!)
        // Each other store once, then the first of them again.
        for (const i of [...rest, rest[0]!]) {
          const before = await everything(dest)
          const result = await transport.merge(ws, dest, sources[i]!)
          const after = await everything(dest)
          for (const [key, digest] of before.events) assert.is(after.events.get(key), digest, `event ${key} is kept unchanged`)
          for (const [key, digest] of before.blobs) assert.is(after.blobs.get(key), digest, `blob ${key} is kept unchanged`)
          for (const kind of ['snapshots', 'configs', 'blobs'] as const) {
            const listed = new Set(after.listing[kind])
            for (const id of before.listing[kind]) assert.ok(listed.has(id), `${id} is still listed in ls ${kind}`)
          }
          const tagNames = new Set(after.listing.tags.map((line) => line.split('\t')[0]))
          for (const line of before.listing.tags) assert.ok(tagNames.has(line.split('\t')[0]), `tag ${line} still exists`)
          assert.ok(after.clock >= before.clock, 'the clock never goes back')
          assert.is(result.events, after.events.size - before.events.size, 'result.events is the number of events added')
          assert.is(result.blobs, after.blobs.size - before.blobs.size, 'result.blobs is the number of blobs added')
        }
      })
    })
  })

  Laws('projections kept incrementally through merges equal a reindex, and every store verifies', async () => {
    await check(fc.tuple(historyArb, orderArb), async ([history, keys]) => {
      await inWorld(history, transport, async (ws, sources) => {
        const dest = await ws.init('dest')
        for (const i of permutation(keys, sources.length)) await transport.merge(ws, dest, sources[i]!)
        await Promise.all([...sources, dest.path].map(async (path) => {
          const store = await ws.open(path)
          const report = await verifyStore(store)
          assert.equal(report.problems, [], `${path} verifies`)
          assert.ok(report.ok)
          const incremental = await dumpDerived(store)
          await reindex(store)
          assert.equal(await dumpDerived(store), incremental, `the projections of ${path} equal a reindex`)
        }))
      })
    })
  })

  Laws.run()
}

/** What a law compares of a store: its listings, projections, events, blob records and clock. */
async function everything (store: Store): Promise<{ listing: Awaited<ReturnType<typeof listing>>, derived: Record<string, string[]>, events: Map<string, string>, blobs: Map<string, string>, clock: number }> {
  return {
    listing: await listing(store),
    derived: await dumpDerived(store),
    events: await eventDigests(store),
    blobs: await blobRecordDigests(store),
    clock: store.clock
  }
}

/** Writes the history into fresh stores, runs `work` with their paths, then closes and removes everything. */
async function inWorld (history: History, transport: Transport, work: (ws: Workspace, sources: string[]) => Promise<void>): Promise<void> {
  const ws = await Workspace.create()
  try {
    const stores = await Promise.all(Array.from({ length: history.stores }, async (_, i) => await ws.init(`store-${i}`)))
    const sources = stores.map((store) => store.path)
    for (const step of history.early) await play(ws, transport, sources, step)
    for (let k = 1; k < history.stores; k++) {
      if (history.clones[k - 1] === true) await transport.merge(ws, await ws.open(sources[k]!), sources[k - 1]!)
    }
    for (const step of history.late) await play(ws, transport, sources, step)
    for (const [i] of sources.entries()) await play(ws, transport, sources, { op: 'tag', store: i, tag: history.finalTag, pick: -1 })
    await work(ws, sources)
  } finally {
    await ws.dispose()
  }
}

async function play (ws: Workspace, transport: Transport, sources: readonly string[], step: Step): Promise<void> {
  const n = sources.length
  switch (step.op) {
    case 'add': {
      const store = await ws.open(sources[step.store % n]!)
      await addBlob(store, step.kind, POOL[step.blob]!, step.name === null ? {} : { name: step.name })
      return
    }
    case 'tag': {
      const store = await ws.open(sources[step.store % n]!)
      const ids: string[] = []
      for (const kind of KINDS) for await (const id of listBlobIds(store, kind)) ids.push(id)
      if (ids.length > 0) await setTag(store, step.tag, step.pick < 0 ? ids.at(-1)! : ids[step.pick % ids.length]!)
      return
    }
    case 'merge': {
      // A store merged into itself is part of the history too: it must be a no-op.
      const result = await transport.merge(ws, await ws.open(sources[step.into % n]!), sources[step.from % n]!)
      if (step.into % n === step.from % n) assert.equal([result.events, result.blobs, result.bytes], [0, 0, 0], 'a store merged into itself copies nothing')
    }
  }
}
