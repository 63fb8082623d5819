import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cp, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { CarWriter } from '@ipld/car/writer'
import { hostname } from 'node:os'
import { relative } from 'node:path'
import * as assert from 'uvu/assert'
import { CHUNKING, FORMAT_VERSION, addBlob, appendEvents, closeStore, codec, describeRun, digestHex, iterateLog, listBlobIds, putBlob, readBlobBytes, readEventAt, setTag, storeStats, verifyStore } from '../src/index.ts'
import { exportCar } from '../src/car.ts'
import { DAG_CBOR, cidFromDigest } from '../src/ids.ts'
import { eventKey } from '../src/keys.ts'
import { iterateJournal } from '../src/merge/journal.ts'
import { mergeStores } from '../src/merge/merge-stores.ts'
import { mergeFrom } from '../src/merge/engine.ts'
import { openStoreSource } from '../src/merge/source.ts'
import {
  assertSameState, carTransport, collect, directoryTransport, dumpDerived, holdOpen, rawSub, seededBytes, storeState, withRawDb, workspaceSuite
} from './_helpers/merge.ts'
import { bytes, commitEvents, expectCode, rawChunks, sealChain } from './_helpers/store.ts'
import { exclusive } from '../src/store.ts'
import { CID } from 'multiformats/cid'
import type { AddResult, BlobRecord, DraftSource, EventDraft, SnapEvent, Store, StoredEvent } from '../src/index.ts'
import type { MergeSource } from '../src/merge/source.ts'
import type { RawDb, Workspace } from './_helpers/merge.ts'

const TRANSPORTS = [directoryTransport, carTransport]

/** Adds each text as a snapshot and returns the ids. */
async function addSnapshots (store: Store, texts: readonly string[]): Promise<CID[]> {
  const ids: CID[] = []
  for (const text of texts) ids.push((await addBlob(store, 'snapshot', bytes(text), { name: text })).id)
  return ids
}

async function highestClock (store: Store): Promise<number> {
  return Math.max(...(await collect(iterateLog(store))).map((stored) => stored.event.clock))
}

// ---------------------------------------------------------------- clock

const Clock = workspaceSuite('merge clock')

for (const transport of TRANSPORTS) {
  Clock(`after a merge from a ${transport.name} the destination's clock is at least the highest clock merged, and its next event orders after everything merged`, async ({ ws }) => {
    const source = await ws.init('source')
    await addSnapshots(source, ['s1', 's2', 's3', 's4', 's5', 's6'])
    const highest = await highestClock(source)
    const dest = await ws.init('dest')
    await addBlob(dest, 'config', bytes('config'))
    assert.ok(dest.clock < highest, 'the destination starts behind the source')

    await transport.merge(ws, dest, source.path)
    assert.ok(dest.clock >= highest, `clock ${dest.clock} >= ${highest}`)
    const [next] = (await addBlob(dest, 'snapshot', bytes('after the merge'))).events
    assert.ok(next!.event.clock > highest, 'the next event has a higher clock than any merged event')
    assert.is((await collect(iterateLog(dest))).at(-1)?.id.toString(), next!.id.toString(), 'it is last in the total order')

    await ws.close(dest.path)
    assert.ok((await ws.open(dest.path)).clock >= next!.event.clock, 'the raised clock is stored')
  })
}

Clock.run()

// ---------------------------------------------------------------- forks

interface ForkCase {
  title: string
  /** Events each copy writes after the copy. */
  dest: number
  source: number
}

const FORKS: ForkCase[] = [
  { title: 'equal seqs with different heads', dest: 1, source: 1 },
  { title: 'a source that wrote more after the copy', dest: 1, source: 2 },
  { title: 'a destination that wrote more after the copy', dest: 2, source: 1 },
  { title: 'two copies that both wrote several events', dest: 2, source: 3 }
]

/** A store with two events, copied as a closed directory: 'a' and 'b' share an origin. Each then writes its own events. */
async function copiedStores (ws: Workspace, destWrites: number, sourceWrites: number): Promise<string> {
  const a = await ws.init('a')
  await addSnapshots(a, ['before the copy 1', 'before the copy 2'])
  await ws.close(a.path)
  await cp(ws.path('a'), ws.path('b'), { recursive: true })
  await addSnapshots(await ws.open('a'), Array.from({ length: destWrites }, (_, i) => `written in a ${i}`))
  await addSnapshots(await ws.open('b'), Array.from({ length: sourceWrites }, (_, i) => `written in b ${i}`))
  return a.origin
}

const Forks = workspaceSuite('merge forks')

for (const transport of TRANSPORTS) {
  for (const fork of FORKS) {
    Forks(`a fork (${fork.title}) from a ${transport.name} is refused with E_FORK naming origin and seq, and nothing is written`, async ({ ws }) => {
      const origin = await copiedStores(ws, fork.dest, fork.source)
      const before = await storeState(ws, 'a')
      const err = await expectCode(transport.merge(ws, await ws.open('a'), ws.path('b')), 'E_FORK')
      const seq = err.details['seq']
      assert.is(err.details['origin'], origin)
      assert.type(seq, 'number')
      assert.ok(err.message.includes(origin), err.message)
      assert.ok(err.message.includes(`seq ${String(seq)}`), err.message)
      const ours = await readEventAt(await ws.open('a'), origin, seq as number)
      const theirs = await readEventAt(await ws.open('b'), origin, seq as number)
      assert.ok(ours !== undefined && theirs !== undefined && !ours.id.equals(theirs.id), `both stores hold different events at seq ${String(seq)}`)
      if (fork.dest + fork.source <= 3) assert.is(seq, 3, 'the seq where the copies first differ')
      await ws.close(ws.path('b'))
      assertSameState(await storeState(ws, 'a'), before, 'the destination')
    })
  }
}

Forks('a copy written on one side only is no fork: merging copies what the other side lacks', async ({ ws }) => {
  const origin = await copiedStores(ws, 0, 2)
  const merged = await directoryTransport.merge(ws, await ws.open('a'), ws.path('b'))
  assert.is(merged.events, 2)
  const back = await directoryTransport.merge(ws, await ws.open('b'), ws.path('a'))
  assert.is(back.events, 0)
  const a = await ws.open('a')
  assert.equal((await verifyStore(a)).problems, [])
  assert.is((await readEventAt(a, origin, 4))?.event.seq, 4)
})

Forks.run()

// ---------------------------------------------------------------- corrupted sources

interface SourceFacts {
  path: string
  origin: string
  /** Digests (hex) of the blobs only the source holds, in the order it added them. */
  blobs: string[]
  /** Ids of those blobs. */
  ids: string[]
}

interface CorruptCase {
  title: string
  tamper: (db: RawDb, source: SourceFacts) => Promise<void>
  /** What the error message must name. */
  names: (source: SourceFacts) => string
}

async function readRecord (db: RawDb, digest: string): Promise<BlobRecord> {
  const value = await rawSub(db, 'blob').get(digest)
  assert.ok(value !== undefined, `blob ${digest} has a record`)
  return codec.decode<BlobRecord>(value)
}

async function rewriteEvent (db: RawDb, origin: string, seq: number, change: (event: SnapEvent) => void): Promise<void> {
  const events = rawSub(db, 'event')
  const value = await events.get(eventKey(origin, seq))
  assert.ok(value !== undefined, `event ${origin}:${seq} is stored`)
  const event = codec.decode<SnapEvent>(value)
  change(event)
  await events.put(eventKey(origin, seq), codec.encode(event))
}

const CORRUPTIONS: CorruptCase[] = [
  {
    title: 'a chunk whose bytes were changed',
    tamper: async (db, source) => {
      const [[digest]] = (await readRecord(db, source.blobs[2]!)).chunks as [[Uint8Array, number]]
      const chunks = rawChunks(db, source.path)
      const hex = Buffer.from(digest).toString('hex')
      const tampered = Buffer.from((await chunks.get(hex))!)
      tampered[0] = tampered[0]! ^ 0xff
      await chunks.put(hex, tampered)
    },
    names: (source) => source.ids[2]!
  },
  {
    title: 'a missing chunk',
    tamper: async (db, source) => {
      const [[digest]] = (await readRecord(db, source.blobs[1]!)).chunks as [[Uint8Array, number]]
      await rawChunks(db, source.path).del(Buffer.from(digest).toString('hex'))
    },
    names: (source) => source.ids[1]!
  },
  {
    title: 'a blob record whose size was changed',
    tamper: async (db, source) => {
      const record = await readRecord(db, source.blobs[1]!)
      await rawSub(db, 'blob').put(source.blobs[1]!, codec.encode({ ...record, size: record.size + 1 }))
    },
    names: (source) => source.ids[1]!
  },
  {
    title: 'a blob record that lists the chunks of another blob',
    tamper: async (db, source) => {
      const other = await readRecord(db, source.blobs[0]!)
      await rawSub(db, 'blob').put(source.blobs[2]!, codec.encode(other))
    },
    names: (source) => source.ids[2]!
  },
  {
    title: 'a missing blob record',
    tamper: async (db, source) => { await rawSub(db, 'blob').del(source.blobs[2]!) },
    names: (source) => source.ids[2]!
  },
  {
    title: 'an event in the middle of the chain re-encoded with a changed body',
    tamper: async (db, source) => {
      await rewriteEvent(db, source.origin, 2, (event) => { (event.body as { name?: string }).name = 'forged' })
    },
    names: (source) => source.origin
  },
  {
    title: 'the last event re-encoded with a changed body (it no longer matches the head)',
    tamper: async (db, source) => {
      await rewriteEvent(db, source.origin, 4, (event) => { (event.body as { name?: string }).name = 'forged' })
    },
    names: (source) => source.origin
  },
  {
    title: 'a broken chain: an event deleted from the middle',
    tamper: async (db, source) => { await rawSub(db, 'event').del(eventKey(source.origin, 3)) },
    names: (source) => source.origin
  },
  {
    title: 'event bytes that are not CBOR',
    tamper: async (db, source) => { await rawSub(db, 'event').put(eventKey(source.origin, 2), bytes('\xff not cbor')) },
    names: (source) => `${source.origin}:2`
  },
  {
    title: 'two events swapped',
    tamper: async (db, source) => {
      const events = rawSub(db, 'event')
      const [two, three] = await events.getMany([eventKey(source.origin, 2), eventKey(source.origin, 3)])
      await events.batch([{ type: 'put', key: eventKey(source.origin, 2), value: three! }, { type: 'put', key: eventKey(source.origin, 3), value: two! }])
    },
    names: (source) => source.origin
  },
  {
    title: 'a version vector that claims more events than the log holds',
    tamper: async (db, source) => {
      const heads = rawSub(db, 'heads')
      const head = codec.decode<{ seq: number, head: CID }>((await heads.get(source.origin))!)
      await heads.put(source.origin, codec.encode({ ...head, seq: head.seq + 1 }))
    },
    names: (source) => source.origin
  }
]

const Corrupt = workspaceSuite('merge from a corrupted source')

/** A source that shares one blob with the destination and adds three of its own (seq 2 to 4); both closed. */
async function sourceAndDest (ws: Workspace, texts: readonly Uint8Array[] = ['one', 'two', 'three'].map((text) => bytes(`only in the source: ${text}`))): Promise<SourceFacts> {
  const source = await ws.init('source')
  await addBlob(source, 'snapshot', bytes('shared'), { name: 'shared' })
  const ids: CID[] = []
  for (const [i, data] of texts.entries()) ids.push((await addBlob(source, 'snapshot', data, { name: `blob ${i}` })).id)
  const dest = await ws.init('dest')
  await addBlob(dest, 'config', bytes('shared'))
  await addBlob(dest, 'snapshot', bytes('only in the destination'))
  await ws.closeAll()
  return { path: source.path, origin: source.origin, blobs: ids.map(digestHex), ids: ids.map(String) }
}

for (const corruption of CORRUPTIONS) {
  Corrupt(`a source with ${corruption.title} is refused with E_CORRUPT and nothing is written`, async ({ ws }) => {
    const source = await sourceAndDest(ws)
    await withRawDb(source.path, async (db) => { await corruption.tamper(db, source) })
    const before = await storeState(ws, 'dest')
    const err = await expectCode(mergeStores(await ws.open('dest'), source.path), 'E_CORRUPT')
    assert.ok(err.message.includes(corruption.names(source)), `the message names ${corruption.names(source)}: ${err.message}`)
    assertSameState(await storeState(ws, 'dest'), before, 'the destination')
  })
}

Corrupt('a tampered chunk found after more than 32 MiB of good blobs were written is taken back with them', async ({ ws }) => {
  const source = await sourceAndDest(ws, Array.from({ length: 40 }, (_, i) => seededBytes(CHUNKING.max, 100 + i)))
  await withRawDb(source.path, async (db) => { await CORRUPTIONS[0]!.tamper(db, { ...source, blobs: [source.blobs[0]!, source.blobs[1]!, source.blobs[39]!] }) })
  const before = await storeState(ws, 'dest')
  const err = await expectCode(mergeStores(await ws.open('dest'), source.path), 'E_CORRUPT')
  assert.ok(err.message.includes(source.ids[39]!), err.message)
  assertSameState(await storeState(ws, 'dest'), before, 'the destination')
})

Corrupt('a blob added while a merge copies blobs survives the merge being taken back', async ({ ws }) => {
  const source = await sourceAndDest(ws, Array.from({ length: 40 }, (_, i) => seededBytes(CHUNKING.max, 100 + i)))
  await withRawDb(source.path, async (db) => { await CORRUPTIONS[0]!.tamper(db, { ...source, blobs: [source.blobs[0]!, source.blobs[1]!, source.blobs[39]!] }) })
  const dest = await ws.open('dest')
  const data = seededBytes(2 * 1024 * 1024, 9)
  let added: Promise<AddResult> | undefined
  // Added as soon as the merge has copied its first bytes, while it goes on to the tampered blob.
  const merging = mergeStores(dest, source.path, { onProgress: () => { added ??= addBlob(dest, 'snapshot', data) } })
  await expectCode(merging, 'E_CORRUPT')
  const { id } = await added!
  assert.ok(Buffer.from(await readBlobBytes(dest, id)).equals(Buffer.from(data)), 'the added blob reads back whole')
  assert.equal((await verifyStore(dest)).problems, [])
})

Corrupt('a blob put into the destination while a merge checks its events is neither copied nor taken back by it', async ({ ws }) => {
  const texts = ['put meanwhile', 'two', 'three'].map((text) => bytes(`only in the source: ${text}`))
  const facts = await sourceAndDest(ws, texts)
  // Past the first group of events checked (1,000), which notes the blob as one to copy.
  const more = await ws.open(facts.path)
  await appendEvents(more, Array.from({ length: 1100 }, (_, i) => ({ type: 'tag.set' as const, body: { name: `t${i}`, target: CID.parse(facts.ids[1]!) } })))
  await ws.close(facts.path)
  await withRawDb(facts.path, async (db) => { await CORRUPTIONS[0]!.tamper(db, facts) })
  const dest = await ws.open('dest')
  const opened = await openStoreSource(facts.path)
  try {
    // The source's events are read in the checking pass: the blob is put once the first group is checked.
    const source: MergeSource = {
      ...opened,
      events: async function * (origin, from, to) {
        let read = 0
        for await (const page of opened.events(origin, from, to)) {
          yield page
          const before = read
          read += page.length
          if (before <= 1000 && read > 1000) await putBlob(dest, texts[0]!)
        }
      }
    }
    await expectCode(mergeFrom(dest, source), 'E_CORRUPT')
  } finally {
    await opened.close()
  }
  assert.ok(Buffer.from(await readBlobBytes(dest, CID.parse(facts.ids[0]!))).equals(Buffer.from(texts[0]!)), 'the blob put meanwhile reads back')
  assert.equal((await verifyStore(dest)).problems, [])
})

Corrupt('a store closed while a merge copies and an add waits for it: the add fails with E_BAD_INPUT, and the store reopens whole', async ({ ws }) => {
  const facts = await sourceAndDest(ws, Array.from({ length: 20 }, (_, i) => seededBytes(CHUNKING.max, 300 + i)))
  const dest = await ws.open('dest')
  let added: Promise<unknown> | undefined
  let closed: Promise<void> | undefined
  const merged = mergeStores(dest, facts.path, {
    onProgress: () => {
      // Its failure is looked at once the merge is done.
      added ??= addBlob(dest, 'snapshot', bytes('added while copying')).then(() => undefined, (err: unknown) => err)
      closed ??= closeStore(dest)
    }
  })
  assert.is((await merged).blobs, 20)
  assert.is((await added as { code?: string } | undefined)?.code, 'E_BAD_INPUT')
  await closed
  await ws.close('dest')
  const again = await ws.open('dest')
  assert.equal((await verifyStore(again)).problems, [])
})

// 40 MiB: past the size from which a copied blob's whole id is hashed on a thread of its own.
const LARGE = 40 * 1024 * 1024

Corrupt('a large blob of many chunks is copied whole, every chunk and its id checked', async ({ ws }) => {
  const data = seededBytes(LARGE, 7)
  const source = await sourceAndDest(ws, [data])
  const dest = await ws.open('dest')
  const result = await mergeStores(dest, source.path)
  assert.is(result.bytes, LARGE)
  assert.ok(Buffer.from(await readBlobBytes(dest, CID.parse(source.ids[0]!))).equals(Buffer.from(data)))
  assert.equal(await verifyStore(dest), { ok: true, problems: [], events: 4, blobs: 3 })
})

Corrupt('a tampered chunk in the middle of a large blob is refused with E_CORRUPT naming the chunk, and nothing is written', async ({ ws }) => {
  const source = await sourceAndDest(ws, [seededBytes(LARGE, 7)])
  let tamperedHex = ''
  await withRawDb(source.path, async (db) => {
    const { chunks } = await readRecord(db, source.blobs[0]!)
    tamperedHex = Buffer.from(chunks[Math.floor(chunks.length / 2)]![0]).toString('hex')
    const raw = rawChunks(db, source.path)
    const tampered = Buffer.from((await raw.get(tamperedHex))!)
    tampered[100] = tampered[100]! ^ 0x01
    await raw.put(tamperedHex, tampered)
  })
  const before = await storeState(ws, 'dest')
  const err = await expectCode(mergeStores(await ws.open('dest'), source.path), 'E_CORRUPT')
  assert.match(err.message, `chunk digest mismatch: expected ${tamperedHex}`)
  assert.ok(err.message.includes(source.ids[0]!), err.message)
  assertSameState(await storeState(ws, 'dest'), before, 'the destination')
})

Corrupt('a source whose blob.add misstates the size of its blob is refused with E_CORRUPT and nothing is written', async ({ ws }) => {
  const data = bytes('eleven byte')
  const dest = await ws.init('dest')
  await addBlob(dest, 'snapshot', data)
  const source = await ws.init('source')
  const { id } = await putBlob(source, data)
  // appendEvents refuses such an event, so it is written the way a buggy or lying peer would.
  const [lie] = sealChain(source.origin, [{ clock: 1, draft: { type: 'blob.add', body: { blob: id, kind: 'snapshot', size: 999 } } }])
  await exclusive(source, async () => { await commitEvents(source, [lie!]) })
  await ws.closeAll()
  const before = await storeState(ws, 'dest')
  // Accepting it would make the blob's projected size depend on the order of delivery, and verify would fail.
  await expectCode(mergeStores(await ws.open('dest'), source.path), 'E_CORRUPT')
  assertSameState(await storeState(ws, 'dest'), before, 'the destination')
})

Corrupt.run()

// ---------------------------------------------------------------- sources that cannot be read

const Refused = workspaceSuite('merge from a source it cannot read')

Refused('a source of a newer format is refused with E_VERSION and nothing is written', async ({ ws }) => {
  const source = await sourceAndDest(ws)
  await withRawDb(source.path, async (db) => { await rawSub(db, 'meta').put('format', codec.encode(FORMAT_VERSION + 1)) })
  const before = await storeState(ws, 'dest')
  const err = await expectCode(mergeStores(await ws.open('dest'), source.path), 'E_VERSION')
  assert.ok(err.message.includes(source.path), err.message)
  assertSameState(await storeState(ws, 'dest'), before, 'the destination')
})

Refused('a source another process holds open is refused with E_LOCKED after the wait, and merges once released', async ({ ws }) => {
  const source = await sourceAndDest(ws)
  const before = await storeState(ws, 'dest')
  const holder = await holdOpen(source.path)
  try {
    const err = await expectCode(mergeStores(await ws.open('dest'), source.path, { wait: 0.3 }), 'E_LOCKED')
    assert.ok(err.message.includes(source.path), err.message)
  } finally {
    await holder.release()
  }
  assertSameState(await storeState(ws, 'dest'), before, 'the destination')
  assert.is((await mergeStores(await ws.open('dest'), source.path)).events, 4)
})

Refused('a path that is not a store is refused with E_NO_STORE', async ({ ws }) => {
  const dest = await ws.init('dest')
  await expectCode(mergeStores(dest, ws.dir), 'E_NO_STORE')
})

Refused.run()

// ---------------------------------------------------------------- into itself

const Self = workspaceSuite('merge into itself')

Self('merging a store into itself is a no-op, however its path is spelled', async ({ ws }) => {
  const store = await ws.init('store')
  await addSnapshots(store, ['one', 'two'])
  const before = await storeState(ws, 'store')
  await symlink(ws.path('store'), ws.path('link'))
  const same = await ws.open('store')
  for (const spelling of [same.path, `${same.path}/`, relative(process.cwd(), same.path), ws.path('link')]) {
    const result = await mergeStores(same, spelling)
    assert.equal([result.events, result.blobs, result.bytes], [0, 0, 0], spelling)
  }
  assertSameState(await storeState(ws, 'store'), before, 'the store')
})

Self.run()

// ---------------------------------------------------------------- journal

const Journal = workspaceSuite('merge journal')

Journal('each merge is recorded in the journal with its source, versions before and after, and what it copied', async ({ ws }) => {
  const a = await ws.init('a')
  await addSnapshots(a, ['12345', '1234567'])
  const b = await ws.init('b')
  await addSnapshots(b, ['12345'])
  await addBlob(b, 'config', bytes('123'))
  await ws.closeAll()
  const dest = await ws.init('dest')
  const results = [await mergeStores(dest, a.path), await mergeStores(dest, b.path), await mergeStores(dest, a.path)]
  assert.equal(results.map((r) => [r.events, r.blobs, r.bytes]), [[2, 2, 12], [2, 1, 3], [0, 0, 0]])

  const entries = await collect(iterateJournal(dest))
  assert.equal(entries.map(({ source, before, after, events, blobs, bytes }) => ({ source, before, after, events, blobs, bytes })), [
    { source: a.path, before: { [a.origin]: 0 }, after: { [a.origin]: 2 }, events: 2, blobs: 2, bytes: 12 },
    { source: b.path, before: { [b.origin]: 0 }, after: { [b.origin]: 2 }, events: 2, blobs: 1, bytes: 3 },
    { source: a.path, before: { [a.origin]: 2 }, after: { [a.origin]: 2 }, events: 0, blobs: 0, bytes: 0 }
  ])
  for (const [i, entry] of entries.entries()) {
    assert.ok(Number.isInteger(entry.time), 'a time in ms')
    if (i > 0) assert.ok(entry.time >= entries[i - 1]!.time, 'oldest first')
  }
  assert.is(await collect(iterateLog(dest)).then((log) => log.length), 4, 'merges are not events')
})

Journal.run()

// ---------------------------------------------------------------- CAR files

const CHUNK_MARK = 'CHUNK-MARK'
const EVENT_MARK = 'EVENT-MARK'

/** A source exported whole to `source.car`, and a destination; both closed. */
async function exported (ws: Workspace): Promise<{ car: string, snapshots: string[] }> {
  const source = await ws.init('source')
  const snapshots = [
    (await addBlob(source, 'snapshot', seededBytes(100_000, 1), { name: 'first' })).id,
    (await addBlob(source, 'snapshot', bytes(CHUNK_MARK.repeat(10_000)), { name: EVENT_MARK })).id,
    (await addBlob(source, 'snapshot', seededBytes(100_000, 3), { name: 'last' })).id
  ].map(String)
  await setTag(source, 'best', snapshots[1]!)
  const car = ws.path('source.car')
  await exportCar(source, car)
  const dest = await ws.init('dest')
  await addBlob(dest, 'snapshot', seededBytes(100_000, 1))
  await ws.closeAll()
  return { car, snapshots }
}

interface CarDamage {
  title: string
  damage: (file: Buffer) => Buffer
}

function flipAt (file: Buffer, mark: string, offset: number): Buffer {
  const at = file.indexOf(mark)
  assert.ok(at >= 0, `the CAR holds ${mark}`)
  const out = Buffer.from(file)
  out[at + offset] = out[at + offset]! ^ 0x01
  return out
}

const CAR_DAMAGES: CarDamage[] = [
  { title: 'cut in half', damage: (file) => file.subarray(0, file.length >> 1) },
  { title: 'cut to 10 bytes', damage: (file) => file.subarray(0, 10) },
  { title: 'cut short of its last byte', damage: (file) => file.subarray(0, file.length - 1) },
  { title: 'with a byte flipped inside a chunk block', damage: (file) => flipAt(file, CHUNK_MARK, CHUNK_MARK.length * 5000 + 3) },
  { title: 'with a byte flipped inside an event block', damage: (file) => flipAt(file, EVENT_MARK, 3) },
  // The parser then reports a negative block length, which must not reach a read.
  { title: 'whose first section is shorter than its CID', damage: (file) => withFirstSectionLength(file, 1) },
  { title: 'whose first section claims 3 GB', damage: (file) => withFirstSectionLength(file, 3_000_000_000) }
]

/** The file with the length of its first section (after the header) replaced. */
function withFirstSectionLength (file: Buffer, length: number): Buffer {
  const [headerLength, headerBytes] = readVarint(file, 0)
  const at = headerBytes + headerLength
  const [, sectionBytes] = readVarint(file, at)
  return Buffer.concat([file.subarray(0, at), writeVarint(length), file.subarray(at + sectionBytes)])
}

/** An unsigned LEB128 varint at `at`: its value and how many bytes it takes. */
function readVarint (bytes: Buffer, at: number): [number, number] {
  let value = 0
  for (let i = 0; ; i++) {
    const byte = bytes[at + i]!
    value += (byte & 0x7f) * 2 ** (7 * i)
    if ((byte & 0x80) === 0) return [value, i + 1]
  }
}

function writeVarint (value: number): Buffer {
  const out: number[] = []
  for (let rest = value; ; rest = Math.floor(rest / 128)) {
    if (rest < 128) return Buffer.from([...out, rest])
    out.push((rest % 128) | 0x80)
  }
}

const Car = workspaceSuite('merge from a CAR file')

Car('an intact CAR file merges into a store that verifies and lists its snapshots', async ({ ws }) => {
  const { car, snapshots } = await exported(ws)
  const dest = await ws.open('dest')
  const result = await mergeStores(dest, car)
  assert.equal([result.events, result.blobs], [4, 2])
  assert.equal((await verifyStore(dest)).problems, [])
  assert.equal(await collect(listBlobIds(dest, 'snapshot')), snapshots, 'its own first snapshot is the source\'s first')
})

for (const { title, damage } of CAR_DAMAGES) {
  Car(`a CAR file ${title} is refused with E_CORRUPT and nothing is written`, async ({ ws }) => {
    const { car } = await exported(ws)
    const damaged = ws.path('damaged.car')
    await writeFile(damaged, damage(await readFile(car)))
    const before = await storeState(ws, 'dest')
    await expectCode(mergeStores(await ws.open('dest'), damaged), 'E_CORRUPT')
    assertSameState(await storeState(ws, 'dest'), before, 'the destination')
  })
}

Car('a CAR of 1,500 small snapshots, past the 1 MiB windows its reader reads, merges whole and every snapshot reads back', async ({ ws }) => {
  const source = await ws.init('source')
  const contents = Array.from({ length: 1500 }, (_, i) => Buffer.from(`small state ${i} `.repeat(80 + (i % 37))))
  const ids: CID[] = []
  for (let from = 0; from < contents.length; from += 500) {
    const part = contents.slice(from, from + 500)
    const put = await Promise.all(part.map(async (content) => (await putBlob(source, content)).id))
    await appendEvents(source, put.map((blob, i) => ({ type: 'blob.add' as const, body: { blob, kind: 'snapshot' as const, size: part[i]!.length } })))
    ids.push(...put)
  }
  const car = ws.path('many.car')
  await exportCar(source, car)
  assert.ok((await readFile(car)).length > 2 * 1024 * 1024, 'the file spans several windows')
  const dest = await ws.init('dest')
  assert.equal((await mergeStores(dest, car)).blobs, contents.length)
  assert.equal((await verifyStore(dest)).problems, [])
  for (const i of [0, 1, 699, 700, 1499]) assert.ok(Buffer.from(await readBlobBytes(dest, ids[i]!)).equals(contents[i]!), `snapshot ${i} reads back`)
})

/** Writes a CAR file of the given blocks (bytes, with dag-cbor ids), whose root is the first. */
async function carOf (path: string, blocks: Uint8Array[]): Promise<void> {
  const ids = blocks.map((bytes) => cidFromDigest(DAG_CBOR, createHash('sha256').update(bytes).digest()))
  const { writer, out } = CarWriter.create([ids[0]!])
  const parts = collect(out)
  for (const [i, bytes] of blocks.entries()) await writer.put({ cid: ids[i]!, bytes })
  await writer.close()
  await writeFile(path, Buffer.concat(await parts))
}

Car('a CAR whose root names a head that is not an id, or whose event names a prev that is not one, is refused with E_CORRUPT', async ({ ws }) => {
  const origin = 'a'.repeat(32)
  const root = (head: unknown): Uint8Array => codec.encode({ snapstore: 'car', version: 1, heads: [{ origin, seq: 1, head }], blobs: [] })
  await carOf(ws.path('head.car'), [root('not an id')])
  const event = codec.encode({ v: 1, type: 'tag.set', origin, seq: 1, prev: 'not an id', clock: 1, time: 0, host: 'h', body: { name: 't', target: 'x' } })
  const eventCid = cidFromDigest(DAG_CBOR, createHash('sha256').update(event).digest())
  await carOf(ws.path('prev.car'), [root(eventCid), event])
  const dest = await ws.init('dest')
  for (const file of ['head.car', 'prev.car']) await expectCode(mergeStores(dest, ws.path(file)), 'E_CORRUPT')
  assert.is((await storeStats(dest)).events, 0)
})

Car('exportCar with an aborted signal stops with an AbortError and writes no file, even of a log that names no blob', async ({ ws }) => {
  const source = await ws.init('source')
  await appendEvents(source, Array.from({ length: 50 }, (_, i) => ({ type: 'run.start' as const, body: { params: { i }, seed: String(i), key: 'ab'.repeat(32) } })))
  const car = ws.path('aborted.car')
  const err = await exportCar(source, car, [], { signal: AbortSignal.abort() }).then(() => undefined, (error: unknown) => error)
  assert.is((err as Error | undefined)?.name, 'AbortError')
  assert.equal((await readdir(ws.path('.'))).filter((name) => name.includes('aborted')), [])
})

Car('an export removes the temporary files that killed exports of the same file left beside it, and no other', async ({ ws }) => {
  const source = await ws.init('source')
  await addBlob(source, 'snapshot', bytes('exported'))
  // A process that has ended stands for a killed export; this process's own pid for a running one.
  const ended = spawnSync(process.execPath, ['-e', '0']).pid!
  const left = (pid: number, target = 'out.car'): string => `.${target}.snapstore-${pid}@${hostname()}-0a1b2c3d.tmp`
  for (const name of [left(ended), left(process.pid), left(ended, 'other.car')]) await writeFile(ws.path(name), 'partial')
  await exportCar(source, ws.path('out.car'))
  assert.equal((await readdir(ws.path('.'))).filter((name) => name.endsWith('.tmp')).sort(), [left(process.pid), left(ended, 'other.car')].sort())
})

Car('an export of one snapshot merges into a store that verifies and lists it, without what was added after it', async ({ ws }) => {
  const source = await ws.init('source')
  const [first, wanted, later] = (await addSnapshots(source, ['first', 'wanted', 'later'])).map(String)
  const car = ws.path('subset.car')
  assert.equal(await exportCar(source, car, [wanted!]), { events: 2, blobs: 2 })
  const dest = await ws.init('dest')
  assert.is((await mergeStores(dest, car)).events, 2)
  assert.equal((await verifyStore(dest)).problems, [])
  const listed = await collect(listBlobIds(dest, 'snapshot'))
  assert.equal(listed, [first!, wanted!])
  assert.not.ok(listed.includes(later!))
})

Car('an export of one snapshot carries the events of other stores that its events name', async ({ ws }) => {
  const job = await ws.init('job')
  const { id: start } = await addBlob(job, 'snapshot', bytes('start'))
  const [run] = await appendEvents(job, [{ type: 'run.start', body: { from: start, params: {}, seed: '1', key: 'ab'.repeat(32) } }])
  await ws.close(job.path)
  const home = await ws.init('home')
  await mergeStores(home, job.path)
  await setTag(home, 'best-run', run!.id)
  const { id: wanted } = await addBlob(home, 'snapshot', bytes('wanted'))
  const car = ws.path('subset.car')
  await exportCar(home, car, [wanted.toString()])
  const colleague = await ws.init('colleague')
  await mergeStores(colleague, car)
  assert.equal((await verifyStore(colleague)).problems, [])
  assert.ok((await collect(listBlobIds(colleague, 'snapshot'))).includes(wanted.toString()))
})

/** A run's events as drafts: its start from `from`, a checkpoint at cycle 1, then `last` (its end or its failure). */
function runDrafts (from: CID, checkpoint: CID, last: (run: CID) => EventDraft): DraftSource[] {
  return [
    { type: 'run.start', body: { from, params: {}, seed: '1', key: 'ab'.repeat(32) } },
    (earlier) => ({ type: 'run.checkpoint', body: { run: earlier[0]!.id, snapshot: checkpoint, cycle: 1 } }),
    (earlier) => last(earlier[0]!.id)
  ]
}

Car('an export of a run that continues a run of another store carries every event of that run', async ({ ws }) => {
  const first = await ws.init('first')
  const { id: start } = await addBlob(first, 'snapshot', bytes('start'))
  const { id: checkpoint } = await addBlob(first, 'snapshot', bytes('checkpoint'))
  const [failed] = await appendEvents(first, runDrafts(start, checkpoint, (run) => ({ type: 'run.fail', body: { run, reason: 'exit code 3', exitCode: 3 } })))
  await ws.close(first.path)
  const second = await ws.init('second')
  await mergeStores(second, first.path)
  const { id: end } = await addBlob(second, 'snapshot', bytes('end'))
  const [resumed] = await appendEvents(second, [
    { type: 'run.start', body: { from: checkpoint, params: {}, seed: '1', key: 'cd'.repeat(32), continues: failed!.id } },
    (earlier) => ({ type: 'run.end', body: { run: earlier[0]!.id, snapshot: end } })
  ])
  const car = ws.path('resumed.car')
  await exportCar(second, car, [resumed!.id.toString()])
  const colleague = await ws.init('colleague')
  await mergeStores(colleague, car)
  assert.equal((await verifyStore(colleague)).problems, [])
  assert.equal((await collect(listBlobIds(colleague, 'snapshot'))).sort(), [start, checkpoint, end].map(String).sort())
  const continued = await describeRun(colleague, failed!.id)
  assert.equal([continued?.status, continued?.checkpoints.length], ['failed', 1])
})

Car('an export of a snapshot carries the whole of a run that starts from it, and of a run, the blob.add of its start snapshot added in another store', async ({ ws }) => {
  const home = await ws.init('home')
  const { id: start } = await addBlob(home, 'snapshot', bytes('start'))
  const { id: end } = await addBlob(home, 'snapshot', bytes('end'))
  const [run] = await appendEvents(home, runDrafts(start, end, (id) => ({ type: 'run.end', body: { run: id, snapshot: end } })))
  const ofStart = ws.path('start.car')
  await exportCar(home, ofStart, [start.toString()])
  const first = await ws.init('first')
  await mergeStores(first, ofStart)
  const carried = await describeRun(first, run!.id)
  assert.equal([carried?.status, carried?.checkpoints.length], ['completed', 1], 'not a run left running')
  await ws.close(home.path)
  // A run recorded in another store, from a snapshot added in the first.
  const job = await ws.init('job')
  await mergeStores(job, home.path)
  const [jobRun] = await appendEvents(job, [
    { type: 'run.start', body: { from: start, params: { n: 2 }, seed: '2', key: 'cd'.repeat(32) } },
    (earlier) => ({ type: 'run.end', body: { run: earlier[0]!.id, snapshot: end } })
  ])
  const ofRun = ws.path('run.car')
  await exportCar(job, ofRun, [jobRun!.id.toString()])
  const second = await ws.init('second')
  await mergeStores(second, ofRun)
  assert.ok((await collect(listBlobIds(second, 'snapshot'))).includes(start.toString()), 'the start snapshot is listed')
  assert.equal((await verifyStore(second)).problems, [])
})

Car.run()

// ---------------------------------------------------------------- what a merge reports and copies

const Copies = workspaceSuite('merge copies')

Copies('events that name events of other origins merge after them, and the destination verifies', async ({ ws }) => {
  const job = await ws.init('job')
  const { id: start } = await addBlob(job, 'snapshot', bytes('start'))
  const [run] = await appendEvents(job, [{ type: 'run.start', body: { from: start, params: { n: 1 }, seed: '7', key: 'cd'.repeat(32) } }])
  await ws.close(job.path)
  const home = await ws.init('home')
  await mergeStores(home, job.path)
  const { id: end } = await addBlob(home, 'snapshot', bytes('end'))
  await appendEvents(home, [{ type: 'run.end', body: { run: run!.id, snapshot: end } }])
  await setTag(home, 'finished', run!.id)
  await ws.close(home.path)
  const dest = await ws.init('dest')
  assert.is((await mergeStores(dest, home.path)).events, 5)
  assert.equal((await verifyStore(dest)).problems, [])
})

Copies('bytes counts each chunk copied once, even when two new blobs share it', async ({ ws }) => {
  const source = await ws.init('source')
  const shared = seededBytes(CHUNKING.max, 5)
  for (const tail of [1, 2]) await addBlob(source, 'snapshot', Buffer.concat([shared, Buffer.from([tail])]))
  const stored = (await storeStats(source)).storedBytes
  await ws.close(source.path)
  const dest = await ws.init('dest')
  const result = await mergeStores(dest, source.path)
  assert.is(result.blobs, 2)
  assert.is((await storeStats(dest)).storedBytes, stored)
  assert.is(result.bytes, stored, 'the bytes of the distinct chunks copied')
})

Copies('a blob whose chunks repeat merges whole: each repeat is copied once and read from what the merge verified', async ({ ws }) => {
  const source = await ws.init('source')
  // A block repeated: once the cuts fall in step with it, the same chunks come again and again.
  const block = seededBytes(300 * 1024, 8)
  const data = Buffer.concat(Array.from({ length: 12 }, () => block))
  const { id } = await addBlob(source, 'snapshot', data)
  const record = codec.decode<BlobRecord>((await source.sub.blob.get(digestHex(id)))!)
  const distinct = new Set(record.chunks.map(([digest]) => Buffer.from(digest).toString('hex')))
  assert.ok(distinct.size < record.chunks.length - 2, `chunks repeat (${distinct.size} distinct of ${record.chunks.length})`)
  await ws.close(source.path)
  const dest = await ws.init('dest')
  const result = await mergeStores(dest, source.path)
  assert.is(result.bytes, record.chunks.filter(([digest], i) => record.chunks.findIndex(([d]) => Buffer.from(d).equals(digest)) === i).reduce((sum, [, size]) => sum + size, 0))
  assert.ok(Buffer.from(await readBlobBytes(dest, id)).equals(data), 'the blob reads back whole')
  assert.equal((await verifyStore(dest)).problems, [])
})

Copies('a 0-byte blob merges, reads back empty, and the destination verifies', async ({ ws }) => {
  const reasons: unknown[] = []
  const listener = (reason: unknown): void => { reasons.push(reason) }
  process.on('unhandledRejection', listener)
  try {
    const source = await ws.init('source')
    const { id } = await addBlob(source, 'blob', new Uint8Array(0))
    await ws.close(source.path)
    const dest = await ws.init('dest')
    assert.equal(await mergeStores(dest, source.path).then((r) => [r.events, r.blobs, r.bytes]), [1, 1, 0])
    assert.is((await readBlobBytes(dest, id)).length, 0)
    assert.ok((await verifyStore(dest)).ok)
    await new Promise((resolveTick) => setImmediate(resolveTick))
    assert.equal(reasons.map(String), [], 'no promise rejection is left unhandled')
  } finally {
    process.off('unhandledRejection', listener)
  }
})

Copies('a merge of more events than are held between checking and writing writes them all, with the projections of the source', async ({ ws }) => {
  const source = await ws.init('source')
  const { id: target } = await addBlob(source, 'snapshot', bytes('target'))
  const count = 12_000
  for (let i = 0; i < count; i += 3000) {
    await appendEvents(source, Array.from({ length: 3000 }, (_, j) => ({ type: 'tag.set' as const, body: { name: `tag-${i + j}`, target } })), { sync: false })
  }
  const expected = await dumpDerived(source)
  await ws.close(source.path)
  const dest = await ws.init('dest')
  assert.is((await mergeStores(dest, source.path)).events, count + 1)
  assert.equal(await dumpDerived(dest), expected)
  assert.equal((await verifyStore(dest)).problems, [])
})

Copies('a merge whose tags, blobs and runs first appear in one write batch and appear again in the next ends with the projections of the source', async ({ ws }) => {
  const source = await ws.init('source')
  const blobs = await Promise.all(Array.from({ length: 30 }, async (_, i) => (await putBlob(source, bytes(`blob ${i}`))).id))
  // 3,000 events in blocks of 100, each over one tag name, one blob and one run (started at the block's first
  // event, checkpointed, ended at its last): every block that straddles a batch boundary of the merge reads,
  // in the later batch, what the earlier batch wrote first.
  for (let round = 0; round < 3; round++) {
    await appendEvents(source, Array.from({ length: 1000 }, (_, i): DraftSource => {
      const n = round * 1000 + i
      const block = Math.floor(n / 100)
      const blob = blobs[block]!
      const run = (earlier: readonly StoredEvent[]): CID => earlier[i - (n % 100)]!.id
      if (n % 100 === 0) return { type: 'run.start', body: { from: blob, params: { block }, seed: `seed-${block}`, key: `key-${block}` } }
      if (n % 100 === 99) return (earlier) => ({ type: 'run.end', body: { run: run(earlier), snapshot: blob, cycle: n } })
      if (n % 10 === 5) return (earlier) => ({ type: 'run.checkpoint', body: { run: run(earlier), snapshot: blob, cycle: n } })
      return n % 2 === 0
        ? { type: 'tag.set', body: { name: `tag-${block}`, target: blob } }
        : { type: 'blob.add', body: { blob, kind: n % 3 === 0 ? 'config' : 'snapshot', size: `blob ${block}`.length, name: `name-${n}`, meta: { n: String(n) } } }
    }), { sync: false })
  }
  const expected = await dumpDerived(source)
  await ws.close(source.path)
  const dest = await ws.init('dest')
  assert.is((await mergeStores(dest, source.path)).events, 3000)
  assert.equal(await dumpDerived(dest), expected)
  assert.equal((await verifyStore(dest)).problems, [])
})

Copies.run()

const Many = workspaceSuite('merge of many events, opened on a thread of their own')

const MANY = 12_000

/** A closed source of one snapshot and 12,000 tag.set events naming it (seqs 2 to 12,001), and an empty closed destination. */
async function manyEvents (ws: Workspace): Promise<{ path: string, origin: string }> {
  const source = await ws.init('source')
  const { id } = await addBlob(source, 'snapshot', bytes('the state every tag names'))
  for (let from = 0; from < MANY; from += 3000) {
    await appendEvents(source, Array.from({ length: 3000 }, (_, i): EventDraft => ({ type: 'tag.set', body: { name: `tag ${from + i}`, target: id } })))
  }
  await ws.init('dest')
  await ws.closeAll()
  return { path: source.path, origin: source.origin }
}

Many('a merge of 12,001 events copies every one: the destination\'s log and listings equal the source\'s, and it verifies', async ({ ws }) => {
  const source = await manyEvents(ws)
  const result = await mergeStores(await ws.open('dest'), source.path)
  assert.is(result.events, MANY + 1)
  assert.is(result.blobs, 1)
  const report = await verifyStore(await ws.open('dest'))
  assert.ok(report.ok, report.problems.join('; '))
  assert.is(report.events, MANY + 1)
  const [dest, from] = [await storeState(ws, 'dest'), await storeState(ws, 'source')]
  assert.equal(dest.log, from.log, 'the log, in total order')
  assert.equal(dest.listing, from.listing, 'the listings')
})

// Events come from a store source a thousand at a time: seq 6,001 begins a page, seq 5,501 does not.
const FORGED_AT = [
  { where: 'inside a page of events', seq: 5500 },
  { where: 'at the end of a page of events', seq: 6000 }
]

for (const { where, seq } of FORGED_AT) {
  Many(`a large source with an event re-encoded with a changed body ${where} is refused with E_CORRUPT naming the event after it, and nothing is written`, async ({ ws }) => {
    const source = await manyEvents(ws)
    await withRawDb(source.path, async (db) => { await rewriteEvent(db, source.origin, seq, (event) => { (event.body as { name?: string }).name = 'forged' }) })
    const before = await storeState(ws, 'dest')
    const err = await expectCode(mergeStores(await ws.open('dest'), source.path), 'E_CORRUPT')
    assert.match(err.message, `${source.origin}:${seq + 1} in ${source.path}: its prev link does not name the event before it`)
    assertSameState(await storeState(ws, 'dest'), before, 'the destination')
  })
}

Many('a large source with event bytes that are not CBOR deep in its log is refused with E_CORRUPT naming them, and nothing is written', async ({ ws }) => {
  const source = await manyEvents(ws)
  await withRawDb(source.path, async (db) => { await rawSub(db, 'event').put(eventKey(source.origin, 7777), bytes('\xff not cbor')) })
  const before = await storeState(ws, 'dest')
  const err = await expectCode(mergeStores(await ws.open('dest'), source.path), 'E_CORRUPT')
  assert.match(err.message, `Cannot read event at ${source.origin}:7777 in ${source.path}: malformed CBOR`)
  assertSameState(await storeState(ws, 'dest'), before, 'the destination')
})

Many.run()
