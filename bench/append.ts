import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Encoder, addExtension } from 'cbor-x'
import { ClassicLevel } from 'classic-level'
import { appendEvents, closeStore, describeRun, digestHex, initStore, listHeads, readEventById, sealEvent } from '../src/index.ts'
import { positionKey } from '../src/keys.ts'
import { QUICK, check, compare, knob, progress, removeDir, rounds, runAsMain, tempDir, timed } from './_lib.ts'
import { putGenerated } from './_stores.ts'
import { CID } from 'multiformats/cid'
import type { Comparison, Contender, ScenarioResult } from './_lib.ts'
import type { EventDraft, SnapEvent, Store, StoredEvent } from '../src/index.ts'

// The settings src/codec.ts gives cbor-x, without its key sorting: what encoding an event costs through cbor-x.
// CIDs as dag-cbor's tag 42, registered here: src/codec.ts loads its own cbor-x only for values it cannot write itself.
addExtension({
  Class: CID,
  tag: 42,
  encode (cid: CID, encodeNext: (value: unknown) => Uint8Array) {
    const bytes = new Uint8Array(cid.bytes.length + 1)
    bytes.set(cid.bytes, 1)
    return encodeNext(bytes)
  },
  decode: (bytes: Uint8Array): CID => CID.decode(bytes.subarray(1))
})
const rawEncoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false, mapsAsObjects: true, pack: false, structuredClone: false, useFloat32: 0 })

// About the size of a tag's projection record (its target, and the positions of its latest and first tag.set).
const PROJECTION_RECORD_BYTES = 150

/** The key snapstore stores an event under (origin, zero-padded seq), for the raw LevelDB reference. */
function eventKey (event: SnapEvent): string {
  return `${event.origin}:${String(event.seq).padStart(15, '0')}`
}

/** Appends `drafts` in batches of `batch` and returns every stored event. */
async function appendInBatches (store: Store, drafts: readonly EventDraft[], batch: number, sync: boolean): Promise<StoredEvent[]> {
  const out: StoredEvent[] = []
  for (let i = 0; i < drafts.length; i += batch) out.push(...await appendEvents(store, drafts.slice(i, i + batch), { sync }))
  return out
}

function appendContenders (
  label: string,
  count: number,
  batch: number,
  store: Store,
  drafts: (round: number, variant: string) => EventDraft[]
): Contender[] {
  let prepared: EventDraft[] = []
  let events: StoredEvent[] = []
  let db: ClassicLevel<string, Uint8Array> | undefined
  let dbDir = ''
  // Keeps the encoding results alive so that no work can be skipped.
  let sink = 0
  // A fresh classic-level database for each raw reference, removed after it.
  const openLevel = async (): Promise<void> => {
    dbDir = await tempDir('append-level')
    db = new ClassicLevel<string, Uint8Array>(join(dbDir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view' })
    await db.open()
  }
  const closeLevel = async (): Promise<void> => {
    await db!.close()
    await removeDir(dbDir)
  }
  return [
    {
      name: `appendEvents, batches of ${batch} (sync, the default)`,
      role: 'subject',
      setup: async (round) => { prepared = drafts(round, 'sync') },
      run: async () => { events = await appendInBatches(store, prepared, batch, true) },
      teardown: async () => {
        check(events.length === count, `appendEvents returned ${events.length} events for ${count} drafts`)
        // Every id is the sha-256 of the stored bytes, and the chain ends where the store says its head is.
        for (const e of events) check(digestHex(e.id) === createHash('sha256').update(e.bytes).digest('hex'), `event ${e.id.toString()} is not the hash of its bytes`)
        const last = events[events.length - 1]!
        const read = await readEventById(store, last.id)
        check(read !== undefined && Buffer.from(read.bytes).equals(Buffer.from(last.bytes)), `the last ${label} event cannot be read back by id`)
        const head = (await listHeads(store)).find((h) => h.origin === store.origin)
        check(head !== undefined && head.head.equals(last.id) && head.seq === last.event.seq, 'the head is not the last appended event')
      }
    },
    {
      name: `appendEvents, batches of ${batch}, { sync: false }`,
      role: 'detail',
      setup: async (round) => { prepared = drafts(round, 'nosync') },
      run: async () => { await appendInBatches(store, prepared, batch, false) }
    },
    {
      name: 'sealEvent alone (canonical dag-cbor + sha-256 + CID)',
      role: 'detail',
      run: async () => {
        for (const e of events) sink += sealEvent(e.event).bytes.length
      },
      teardown: async () => {
        check(sink > 0, 'nothing was encoded')
        for (const e of events.slice(0, 100)) check(sealEvent(e.event).id.equals(e.id), 're-sealing an event gives another id')
      }
    },
    {
      name: `classic-level: array batch of the same event bytes, ${batch} per batch, { sync: true }`,
      role: 'reference',
      setup: openLevel,
      run: async () => {
        for (let i = 0; i < events.length; i += batch) {
          await db!.batch(events.slice(i, i + batch).map((e) => ({ type: 'put' as const, key: eventKey(e.event), value: e.bytes })), { sync: true })
        }
      },
      teardown: closeLevel
    },
    {
      name: `classic-level: chained batch of the same event bytes, ${batch} per batch, sync`,
      role: 'reference',
      note: 'abstract-level handles a chained batch without per-operation options: a cheaper write path than an array batch with options',
      setup: openLevel,
      run: async () => {
        for (let i = 0; i < events.length; i += batch) {
          const chained = db!.batch()
          for (const e of events.slice(i, i + batch)) chained.put(eventKey(e.event), e.bytes)
          await chained.write({ sync: true })
        }
      },
      teardown: closeLevel
    },
    {
      name: `classic-level: chained batch of the five rows an append writes per event (same keys, same sizes), ${batch} per batch, sync`,
      role: 'reference',
      note: 'the floor of the store format: the event, its order and id index entries, and two projection rows (for tag.set: the tag and its place in the listing)',
      setup: openLevel,
      run: async () => {
        const empty = new Uint8Array(0)
        for (let i = 0; i < events.length; i += batch) {
          const chained = db!.batch()
          for (const { id, bytes, event } of events.slice(i, i + batch)) {
            const key = eventKey(event)
            const position = positionKey(event)
            const name = event.type === 'tag.set' ? event.body.name : digestHex(id)
            chained.put(`!event!${key}`, bytes)
            chained.put(`!order!${position}`, empty)
            chained.put(`!eid!${digestHex(id)}`, Buffer.from(key))
            chained.put(`!p-tag!${name}`, bytes.subarray(0, PROJECTION_RECORD_BYTES))
            chained.put(`!p-tag-order!${position}:${name}`, empty)
          }
          await chained.write({ sync: true })
        }
      },
      teardown: closeLevel
    },
    {
      name: 'cbor-x encode + sha-256 of the same events',
      role: 'reference',
      run: async () => {
        for (const e of events) sink += createHash('sha256').update(rawEncoder.encode(e.event)).digest().length
      }
    }
  ]
}

/**
 * Checkpoints of one run recorded one call each, as `run` records them while a simulation writes them,
 * beside `tag.set` events appended one call each into the same store: the ratio stays near 1 however many
 * checkpoints the run has when recording one costs the same whatever came before.
 */
function checkpointContenders (count: number, store: Store, snapshots: readonly CID[]): Contender[] {
  let run: CID | undefined
  const one = async (draft: EventDraft): Promise<void> => { await appendEvents(store, [draft]) }
  return [
    {
      name: `${count} run.checkpoint events of one new run, one appendEvents call each (sync)`,
      role: 'subject',
      setup: async (round) => {
        run = (await appendEvents(store, [{ type: 'run.start', body: { params: { round, count }, seed: String(round), key: 'b'.repeat(64) } }]))[0]!.id
      },
      run: async () => {
        for (let i = 0; i < count; i++) await one({ type: 'run.checkpoint', body: { run: run!, snapshot: snapshots[i % snapshots.length]!, cycle: i + 1 } })
      },
      teardown: async () => {
        const info = await describeRun(store, run!)
        check(info?.checkpoints.length === count && info.checkpoints.every((c, i) => c.cycle === i + 1), `the run does not list its ${count} checkpoints in cycle order`)
      }
    },
    {
      name: `${count} tag.set events, one appendEvents call each (sync), same store`,
      role: 'reference',
      run: async (round) => {
        for (let i = 0; i < count; i++) await one({ type: 'tag.set', body: { name: `one-${count}-${round}-${i}`, target: snapshots[i % snapshots.length]! } })
      }
    }
  ]
}

/** Events appended per second in batches, beside raw LevelDB batches of the same bytes and encoding + hashing alone. */
export async function appendScenario (): Promise<ScenarioResult> {
  const count = knob('APPEND_EVENTS', 20_000, 1_000)
  const blobAdds = knob('APPEND_BLOB_EVENTS', 20_000, 500)
  const batch = knob('APPEND_BATCH', 1_000, 100, false)
  const n = rounds(3)
  const setup: Record<string, number> = {}
  const dir = await tempDir('append')
  const store = await initStore(join(dir, 'store'))
  let targets: CID[] = []
  let fresh: CID[] = []
  const comparisons: Comparison[] = []
  try {
    const putLabel = `putBlob × ${1000 + blobAdds * (n + 1) * 2}`
    setup[putLabel] = await timed(async () => {
      targets = await putGenerated(store, 1000, (i) => `target ${i}`)
      // blob.add events each name a blob no event has named yet: one per event of each round (and the warm-up) and variant.
      fresh = await putGenerated(store, blobAdds * (n + 1) * 2, (i) => `fresh ${i}`)
    })
    progress(`pre-put ${targets.length + fresh.length} blobs in ${setup[putLabel]!.toFixed(1)} s`)

    const tagDrafts = (round: number, variant: string): EventDraft[] =>
      Array.from({ length: count }, (_, i) => ({ type: 'tag.set', body: { name: `${variant}-${round}-${i}`, target: targets[i % targets.length]! } }))
    comparisons.push(await compare(appendContenders('tag.set', count, batch, store, tagDrafts), {
      title: `append ${count} tag.set events (new tag names, existing blob targets)`,
      rounds: n,
      items: count,
      unit: 'events/s',
      target: { description: 'append ≥ 50,000 events/s', value: 50_000, kind: 'min' },
      warmup: true
    }))

    const addDrafts = (round: number, variant: string): EventDraft[] => {
      const offset = (round * 2 + (variant === 'sync' ? 0 : 1)) * blobAdds
      return fresh.slice(offset, offset + blobAdds).map((blob, i) => ({ type: 'blob.add', body: { blob, kind: 'snapshot', size: Buffer.byteLength(`fresh ${offset + i}`) } }))
    }
    comparisons.push(await compare(appendContenders('blob.add', blobAdds, batch, store, addDrafts), {
      title: `append ${blobAdds} blob.add events (each names a new pre-put blob)`,
      rounds: n,
      items: blobAdds,
      unit: 'events/s',
      target: { description: 'append ≥ 50,000 events/s', value: 50_000, kind: 'min' },
      warmup: true
    }))

    for (const checkpoints of [knob('APPEND_CHECKPOINTS_FEW', 200, 20), knob('APPEND_CHECKPOINTS_MANY', 2_000, 50)]) {
      comparisons.push(await compare(checkpointContenders(checkpoints, store, targets), {
        title: `record ${checkpoints} checkpoints of one run, one call each`,
        rounds: n,
        items: checkpoints,
        unit: 'events/s',
        warmup: true
      }))
    }
  } finally {
    await closeStore(store)
    await removeDir(dir)
  }
  const notes = [
    'all rounds append to one store, so later rounds run on a larger log and larger projections',
    'each comparison begins with one untimed round of each contender, on new names and new blobs: a process\'s first round of appends ran at 0.6–0.7× the rounds after it (compiling the code it runs), and counted as one of the three',
    'the classic-level reference writes one key per event; appendEvents also writes the order and id indexes and the projections in the same batch',
    'checkpoints: each is a row of its own, so the ratio to tag.set should not fall as a run has more of them (with every checkpoint kept in the run record, as format 2 did, recording the 2,000th rewrote the 1,999 before it)'
  ]
  if (QUICK) notes.push('quick mode: sizes are tiny, figures are not meaningful')
  return {
    scenario: 'append',
    title: 'append events in batches through the library',
    params: { tagSetEvents: count, blobAddEvents: blobAdds, batch, rounds: n },
    setup,
    checks: [
      'every appended event id is the sha-256 of its stored bytes; the last one reads back by id and is the origin head',
      're-sealing an appended event gives the same id'
    ],
    comparisons,
    notes
  }
}

await runAsMain(import.meta.url, appendScenario)
