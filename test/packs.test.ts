import { createHash } from 'node:crypto'
import { readFile, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CarReader } from '@ipld/car/reader'
import { CarWriter } from '@ipld/car/writer'
import * as assert from 'uvu/assert'
import { addBlob, chunkEnds, closeStore, exportCar, initStore, listBlobIds, mergeStores, openStore, readBlobBytes, verifyStore } from '../src/index.ts'
import { CorruptError } from '../src/errors.ts'
import { Packs } from '../src/packs/packs.ts'
import type { ChunkLocation } from '../src/packs/packs.ts'
import { collect, expectCode, rawChunks, seededBytes, specSuite, storeSuite, tempDir, tempStore } from './_helpers/store.ts'
import { dumpStore, expectError, expectOk, snap, withDb } from './_helpers/cli.ts'
import type { CID } from 'multiformats/cid'
import type { TempStore } from './_helpers/store.ts'

const MiB = 1024 * 1024
/** The size at which a pack is closed for appends and the next one begins (README, Store format). */
const PACK_LIMIT = 1024 * MiB

function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** The distinct chunks of some blobs as the store's chunking cuts them: hex digest → size. */
function distinctChunks (blobs: readonly Uint8Array[]): Map<string, number> {
  const chunks = new Map<string, number>()
  for (const blob of blobs) {
    let from = 0
    for (const end of chunkEnds(blob)) {
      chunks.set(sha256(blob.subarray(from, end)), end - from)
      from = end
    }
  }
  return chunks
}

/** The pack file each of a blob's chunks lies in, read from the (closed) store's database. */
async function packsOf (t: TempStore, data: Uint8Array): Promise<string[]> {
  await t.close()
  const files = await withDb(t.path, async (db) => {
    const chunks = rawChunks(db, t.path)
    return await Promise.all([...distinctChunks([data]).keys()].map(async (hex) => (await chunks.place(hex)).file))
  })
  await t.reopen()
  return [...new Set(files)]
}

// ---------------------------------------------------------------- packs damaged under a store

interface Damaged {
  /** Two multi-chunk blobs: the first in pack 000001, the second in pack 000002. */
  first: { id: CID, data: Uint8Array }
  second: { id: CID, data: Uint8Array }
  packs: [string, string]
}

/** Stores a blob, fills the first pack to its limit (as unnamed bytes), and stores a second blob, which goes to a second pack. */
async function blobsInTwoPacks (t: TempStore): Promise<Damaged> {
  const first = seededBytes(2 * MiB, 31)
  const second = seededBytes(2 * MiB, 32)
  const firstId = (await addBlob(t.store, 'snapshot', first)).id
  await t.close()
  const packs: [string, string] = [join(t.path, 'packs', '000001.pack'), join(t.path, 'packs', '000002.pack')]
  await truncate(packs[0], PACK_LIMIT)
  await t.reopen()
  const secondId = (await addBlob(t.store, 'snapshot', second)).id
  assert.equal(await packsOf(t, first), [packs[0]])
  assert.equal(await packsOf(t, second), [packs[1]])
  return { first: { id: firstId, data: first }, second: { id: secondId, data: second }, packs }
}

const DAMAGE: Array<{ name: string, damage: (d: Damaged) => Promise<'first' | 'second'> }> = [
  {
    name: 'deleted',
    damage: async (d) => { await rm(d.packs[0]); return 'first' }
  },
  {
    name: 'truncated in its last chunk',
    damage: async (d) => { await truncate(d.packs[1], (await stat(d.packs[1])).size - 1000); return 'second' }
  }
]

const Robust = storeSuite('packs damaged under a store')

for (const row of DAMAGE) {
  Robust(`get and verify of a blob whose pack was ${row.name} fail with E_CORRUPT naming it; a blob in another pack still reads`, async ({ t }) => {
    const d = await blobsInTwoPacks(t)
    await t.close()
    const hit = d[await row.damage(d)]
    const spared = hit === d.first ? d.second : d.first
    await t.reopen()

    const err = await expectCode(readBlobBytes(t.store, hit.id), 'E_CORRUPT')
    assert.match(err.message, hit.id.toString())
    assert.match(err.message, /pack 00000[12]\.pack/)
    assert.is(sha256(await readBlobBytes(t.store, spared.id)), sha256(spared.data))
    const report = await verifyStore(t.store)
    assert.is(report.ok, false)
    assert.ok(report.problems.length > 0 && report.problems.every((problem) => problem.startsWith(`blob ${hit.id.toString()}: `)), report.problems.join('\n'))
    for (const sample of [100, 0.001]) {
      const sampled = await verifyStore(t.store, { sample })
      assert.ok(sampled.problems.some((problem) => problem.startsWith(`blob ${hit.id.toString()}: `)), `with --sample ${sample}: ${sampled.problems.join('\n')}`)
    }
  })
}

Robust('through the CLI, get and verify of a blob whose pack was deleted give E_CORRUPT naming the blob, and write nothing', async ({ t }) => {
  const d = await blobsInTwoPacks(t)
  await t.close()
  await rm(d.packs[0])
  const id = d.first.id.toString()
  assert.match(expectError(await snap(['get', 'snapshot', t.path, id]), 'E_CORRUPT'), id)
  const target = join(t.dir, 'out.bin')
  assert.match(expectError(await snap(['get', 'snapshot', t.path, id, '-o', target]), 'E_CORRUPT'), id)
  assert.is(await stat(target).catch(() => undefined), undefined, 'no output file appears')
  const verify = await snap(['verify', t.path])
  assert.is(verify.status, 1)
  assert.ok(verify.stdout.split('\n').filter(Boolean).every((line) => line.startsWith(`blob ${id}: `)), verify.stdout)
  const other = await snap(['get', 'snapshot', t.path, d.second.id.toString()])
  expectOk(other)
  assert.is(sha256(other.out), sha256(d.second.data))
})

Robust.run()

// ---------------------------------------------------------------- merge and CAR export of chunked blobs

interface Chunked {
  src: TempStore
  dest: TempStore
  /** In the source: a is its own, b shares its first 2 MiB with c. In the destination: c and d. */
  a: Uint8Array
  b: Uint8Array
  ids: CID[]
  dispose: () => Promise<void>
}

const Merge = specSuite<{ c: Chunked }>('merge and CAR export of chunked blobs', {} as { c: Chunked })
Merge.before.each(async (ctx) => {
  const src = await tempStore()
  const dest = await tempStore()
  const common = seededBytes(2 * MiB, 41)
  const a = seededBytes(3 * MiB, 42)
  const b = Buffer.concat([common, seededBytes(MiB, 43)])
  const c = Buffer.concat([common, seededBytes(MiB, 44)])
  const ids = [(await addBlob(src.store, 'snapshot', a)).id, (await addBlob(src.store, 'snapshot', b)).id]
  for (const data of [c, seededBytes(MiB, 45)]) await addBlob(dest.store, 'snapshot', data)
  ctx.c = { src, dest, a, b, ids, dispose: async () => { await src.dispose(); await dest.dispose() } }
})
Merge.after.each(async (ctx) => { await ctx.c.dispose() })

Merge('a merge of chunked blobs copies only the chunks the destination lacks, and the destination verifies', async ({ c }) => {
  const held = new Set(await collect(c.dest.store.sub.chunkAt.keys()))
  const missing = [...distinctChunks([c.a, c.b])].filter(([hex]) => !held.has(hex))
  const shared = distinctChunks([c.a, c.b]).size - missing.length
  assert.ok(shared > 0, 'the destination already holds some chunks of b')
  const pack = join(c.dest.path, 'packs', '000001.pack')
  const before = (await stat(pack)).size

  await c.src.close()
  const result = await mergeStores(c.dest.store, c.src.path)
  assert.equal([result.events, result.blobs, result.bytes], [2, 2, missing.reduce((sum, [, size]) => sum + size, 0)])
  assert.is((await stat(pack)).size - before, missing.reduce((sum, [, size]) => sum + 36 + size, 0), 'the pack grew by the missing chunks only')
  assert.ok((await verifyStore(c.dest.store)).ok)
  assert.is(sha256(await readBlobBytes(c.dest.store, c.ids[0]!)), sha256(c.a))
  assert.is(sha256(await readBlobBytes(c.dest.store, c.ids[1]!)), sha256(c.b))
})

Merge('a CAR export of chunked blobs merged into a fresh store rebuilds them, and the store verifies', async ({ c }) => {
  const car = join(c.src.dir, 'chunked.car')
  assert.equal(await exportCar(c.src.store, car), { events: 2, blobs: 2 })
  const fresh = await tempStore()
  try {
    const result = await mergeStores(fresh.store, car)
    assert.equal([result.events, result.blobs], [2, 2])
    assert.ok((await verifyStore(fresh.store)).ok)
    assert.equal((await collect(listBlobIds(fresh.store, 'snapshot'))), c.ids.map(String))
    assert.is(sha256(await readBlobBytes(fresh.store, c.ids[0]!)), sha256(c.a))
    assert.is(sha256(await readBlobBytes(fresh.store, c.ids[1]!)), sha256(c.b))
    assert.is((await collect(fresh.store.sub.chunkAt.keys())).length, distinctChunks([c.a, c.b]).size)
  } finally {
    await fresh.dispose()
  }
})

Merge('a merge of a CAR that lacks one chunk block is refused with E_CORRUPT and writes nothing', async ({ c }) => {
  const car = join(c.src.dir, 'chunked.car')
  await exportCar(c.src.store, car)
  const [, lost] = [...distinctChunks([c.a]).keys()]
  const damaged = join(c.src.dir, 'lacking.car')
  await writeFile(damaged, await carWithout(await readFile(car), lost!))
  const { dir, dispose } = await tempDir()
  try {
    const path = join(dir, 'store')
    await closeStore(await initStore(path))
    const before = await dumpStore(path)
    const store = await openStore(path)
    try {
      const err = await expectCode(mergeStores(store, damaged), 'E_CORRUPT')
      assert.match(err.message, lost!)
    } finally {
      await closeStore(store)
    }
    assert.equal(await dumpStore(path), before, 'the database is as it was')
  } finally {
    await dispose()
  }
})

/** The bytes of a CAR file with the same roots and blocks, except the raw block whose digest is `hex`. */
async function carWithout (bytes: Uint8Array, hex: string): Promise<Uint8Array> {
  const reader = await CarReader.fromBytes(bytes)
  const { writer, out } = CarWriter.create(await reader.getRoots())
  const parts = collect(out)
  let dropped = 0
  for await (const block of reader.blocks()) {
    if (Buffer.from(block.cid.multihash.digest).toString('hex') === hex) dropped++
    else await writer.put(block)
  }
  await writer.close()
  assert.is(dropped, 1, 'the CAR carried the chunk once')
  return Buffer.concat(await parts)
}

Merge.run()

// ---------------------------------------------------------------- appends past a full pack

const Rollover = specSuite<{ dir: string, dispose: () => Promise<void> }>('appends that find a pack full', { dir: '', dispose: async () => {} })
Rollover.before.each(async (ctx) => { Object.assign(ctx, await tempDir()) })
Rollover.after.each(async (ctx) => { await ctx.dispose() })

Rollover('appends in flight together past a full pack all land whole in the next pack, which one of them starts', async ({ dir }) => {
  // The first pack a few bytes short of its limit: the first append below fills it, the others find it full.
  const packs = await packsShortOfLimit(dir, 100)
  const chunks = Array.from({ length: 4 }, (_, i) => seededBytes(1000, 900 + i))
  const appended = await Promise.all(chunks.map(async (chunk) => await appendOne(packs, chunk)))
  await Promise.all(appended.map(async ({ written }) => { await written }))
  await packs.sync()
  assert.equal(appended.map(({ location }) => location.pack), [1, 2, 2, 2])
  for (const [i, { location }] of appended.entries()) assert.ok(Buffer.from(await packs.read(location)).equals(chunks[i]!), `chunk ${i} reads back`)
  await packs.close()
  assert.equal((await readdir(join(dir, 'packs'))).sort(), ['000001.pack', '000002.pack'])
})

Rollover('chunks appended together past a full pack fill it with the first and go on in the next pack', async ({ dir }) => {
  const packs = await packsShortOfLimit(dir, 100)
  const chunks = Array.from({ length: 4 }, (_, i) => seededBytes(1000, 910 + i))
  const { locations, written } = await packs.appendAll(chunks.map((chunk) => ({ digest: digestOf(chunk), bytes: [chunk] })))
  await written
  await packs.sync()
  assert.equal(locations.map(({ pack }) => pack), [1, 2, 2, 2])
  for (const [i, location] of locations.entries()) assert.ok(Buffer.from(await packs.read(location)).equals(chunks[i]!), `chunk ${i} reads back`)
  await packs.close()
})

Rollover('truncateTo takes back appends past a full pack: the pack begun since is removed, and appends go on from the end', async ({ dir }) => {
  const packs = await packsShortOfLimit(dir, 100)
  const end = await packs.end()
  const chunks = Array.from({ length: 4 }, (_, i) => seededBytes(1000, 910 + i))
  const appended = await Promise.all(chunks.map(async (chunk) => await appendOne(packs, chunk)))
  assert.equal(appended.map(({ location }) => location.pack), [1, 2, 2, 2])
  await packs.truncateTo(end)
  assert.equal(await readdir(join(dir, 'packs')), ['000001.pack'])
  assert.is((await stat(join(dir, 'packs', '000001.pack'))).size, end.size)
  // The first append fills pack 1 again from where it ended; the next finds it full and begins pack 2.
  const again: Array<Awaited<ReturnType<typeof appendOne>>> = []
  for (const chunk of chunks.slice(0, 2)) again.push(await appendOne(packs, chunk))
  await packs.sync()
  assert.equal(again.map(({ location }) => [location.pack, location.offset]), [[1, end.size + 36], [2, 12 + 36]])
  for (const [i, { location }] of again.entries()) assert.ok(Buffer.from(await packs.read(location)).equals(chunks[i]!), `chunk ${i} reads back`)
  await packs.close()
})

Rollover('truncateTo an end taken before any pack existed removes the packs begun since, and the next append begins pack 1 again', async ({ dir }) => {
  const packs = new Packs(dir)
  const end = await packs.end()
  assert.equal(end, { pack: 0, size: 0 })
  await (await appendOne(packs, bytesOf('taken back'))).written
  await packs.truncateTo(end)
  assert.equal(await readdir(join(dir, 'packs')), [])
  const { location } = await appendOne(packs, bytesOf('kept'))
  await packs.sync()
  assert.equal([location.pack, location.offset], [1, 12 + 36])
  assert.is(Buffer.from(await packs.read(location)).toString(), 'kept')
  await packs.close()
})

Rollover('a pack filled and retired while a sync waits on the disk stays open until its last write and flush are done', async ({ dir }) => {
  const packs = await packsShortOfLimit(dir, 4 * MiB)
  await (await appendOne(packs, bytesOf('second'))).written
  const syncing = packs.sync()
  // Microtasks only: the sync is now waiting on the disk, which answers no sooner than the next turn of the event loop.
  for (let i = 0; i < 50; i++) await Promise.resolve()
  // While it waits: a large append fills pack 1 (and starts flushing it in the background), the next retires it.
  const large = seededBytes(64 * MiB, 77)
  const small = seededBytes(1000, 78)
  const appending = [appendOne(packs, large), appendOne(packs, small)]
  await syncing
  const appended = await Promise.all(appending)
  await Promise.all(appended.map(async ({ written }) => { await written }))
  await packs.sync()
  assert.equal(appended.map(({ location }) => location.pack), [1, 2])
  assert.ok(Buffer.from(await packs.read(appended[0]!.location)).equals(large), 'the large chunk reads back')
  assert.ok(Buffer.from(await packs.read(appended[1]!.location)).equals(small), 'the small chunk reads back')
  await packs.close()
})

Rollover('packs are unsynced from an append until a sync that began after it has ended, and while any sync runs', async ({ dir }) => {
  const packs = new Packs(dir)
  assert.is(packs.unsynced, false, 'fresh packs have nothing to sync')
  const { written } = await appendOne(packs, bytesOf('one'))
  assert.is(packs.unsynced, true, 'an append not yet synced')
  await written
  assert.is(packs.unsynced, true, 'written is not synced')
  const syncing = packs.sync()
  // Microtasks only: the sync has taken the appends so far and waits on the disk, which answers no sooner than the next turn of the event loop.
  for (let i = 0; i < 50; i++) await Promise.resolve()
  assert.is(packs.unsynced, true, 'a sync still running')
  // An append made while the sync runs is not covered by it; the store's batches must wait for both.
  await appendOne(packs, bytesOf('two'))
  await syncing
  assert.is(packs.unsynced, true, 'the append made during the sync is not synced')
  await packs.sync()
  assert.is(packs.unsynced, false, 'every append synced')
  await packs.close()
})

/** Packs in `dir` whose first pack holds one chunk and is then grown (sparse) to `shortBy` bytes below its limit. */
async function packsShortOfLimit (dir: string, shortBy: number): Promise<Packs> {
  const first = new Packs(dir)
  await appendOne(first, bytesOf('first'))
  await first.sync()
  await first.close()
  await truncate(join(dir, 'packs', '000001.pack'), PACK_LIMIT - shortBy)
  return new Packs(dir)
}

function bytesOf (text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

/** Appends one chunk, as a call of `appendAll` with one chunk: where it lies, and when it is written. */
async function appendOne (packs: Packs, bytes: Uint8Array): Promise<{ location: ChunkLocation, written: Promise<void> }> {
  const { locations, written } = await packs.appendAll([{ digest: digestOf(bytes), bytes: [bytes] }])
  return { location: locations[0]!, written }
}

function digestOf (data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest()
}

// ---------------------------------------------------------------- many chunks read at once

const ReadAll = specSuite<{ dir: string, dispose: () => Promise<void> }>('reading many chunks at once', { dir: '', dispose: async () => {} })
ReadAll.before.each(async (ctx) => { Object.assign(ctx, await tempDir()) })
ReadAll.after.each(async (ctx) => { await ctx.dispose() })

/** Chunks of different sizes (one empty) appended together: their bytes and locations. */
async function appendedTogether (packs: Packs, count: number): Promise<Array<{ bytes: Uint8Array, location: ChunkLocation }>> {
  const chunks = Array.from({ length: count }, (_, i) => seededBytes(i === 3 ? 0 : 100 + 37 * i, 700 + i))
  const { locations, written } = await packs.appendAll(chunks.map((chunk) => ({ digest: digestOf(chunk), bytes: [chunk] })))
  await written
  await packs.sync()
  return chunks.map((bytes, i) => ({ bytes, location: locations[i]! }))
}

ReadAll('appendAll of no chunks writes nothing and begins no pack', async ({ dir }) => {
  const packs = new Packs(dir)
  const { locations, written } = await packs.appendAll([])
  await written
  await packs.sync()
  assert.equal(locations, [])
  assert.equal(await packs.onDisk(), { files: 0, bytes: 0 })
  await packs.close()
})

ReadAll('readAllInto puts each chunk in its own target, whatever the order asked, skipping the headers between neighbours', async ({ dir }) => {
  const packs = new Packs(dir)
  const chunks = await appendedTogether(packs, 10)
  // Out of order, one asked twice, and targets longer than the chunks, each in a buffer of its own.
  const asked = [7, 2, 3, 9, 0, 1, 8, 5, 4, 6, 2].map((i) => ({ ...chunks[i]!, target: Buffer.alloc(chunks[i]!.bytes.length + 5, 0xee) }))
  await packs.readAllInto(asked)
  for (const { bytes, target } of asked) {
    assert.ok(target.subarray(0, bytes.length).equals(bytes), 'the chunk is in its target')
    assert.ok(target.subarray(bytes.length).equals(Buffer.alloc(5, 0xee)), 'nothing is written past it')
  }
  await packs.close()
})

ReadAll('readAllInto of chunks past the end of a cut pack fails with E_CORRUPT, naming the pack', async ({ dir }) => {
  const packs = new Packs(dir)
  const chunks = await appendedTogether(packs, 6)
  await packs.close()
  await truncate(join(dir, 'packs', '000001.pack'), chunks[4]!.location.offset + 10)
  const reopened = new Packs(dir)
  const err = await expectCode(reopened.readAllInto(chunks.map((chunk) => ({ ...chunk, target: Buffer.alloc(chunk.bytes.length) }))), 'E_CORRUPT')
  assert.match(err.message, /000001\.pack ends before byte/)
  // Given a way to name it, the first chunk the pack cuts short is the one named: the fifth.
  const named = await expectCode(reopened.readAllInto(chunks.map((chunk, i) => ({ ...chunk, i, target: Buffer.alloc(chunk.bytes.length) })), (read, cause) => {
    throw new CorruptError(`chunk ${read.i} cannot be read`, { cause })
  }), 'E_CORRUPT')
  assert.is(named.message, 'chunk 4 cannot be read')
  await reopened.close()
})

Rollover.run()
ReadAll.run()
