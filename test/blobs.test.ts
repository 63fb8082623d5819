import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import * as assert from 'uvu/assert'
import { CHUNKING, blobSize, chunkEnds, codec, hasBlob, putBlob, putFile, readBlob, readBlobBytes, storeStats, verifyStore } from '../src/index.ts'
import { readBlobRecord } from '../src/blobs.ts'
import { isBlobStored } from '../src/ingest/blob-lookups.ts'
import { RAW, cidFromHex, digestHex } from '../src/ids.ts'
import { collect, distinctChunkBytes, expectCode, expectNoUnhandledRejection, rawChunks, seededBytes, rawSublevel, storeSuite, tempStore } from './_helpers/store.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecord } from '../src/index.ts'
import type { RawDb } from './_helpers/store.ts'

function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** The id a blob of these bytes must have, computed without snapstore's blob code. */
function expectedId (data: Uint8Array): string {
  return cidFromHex(RAW, sha256(data)).toString()
}

function flipByte (data: Uint8Array, at: number): Uint8Array {
  const out = Uint8Array.from(data)
  out[at] = out[at]! ^ 0xff
  return out
}

/** Reads a blob to the end or to its first error, keeping what was yielded before the error. */
async function drain (parts: AsyncIterable<Uint8Array>): Promise<{ yielded: Uint8Array, error: unknown }> {
  const out: Uint8Array[] = []
  try {
    for await (const part of parts) out.push(Uint8Array.from(part))
  } catch (error) {
    return { yielded: Buffer.concat(out), error }
  }
  return { yielded: Buffer.concat(out), error: undefined }
}

// ---------------------------------------------------------------- round trip

const RoundTrip = storeSuite('blob round trip')

const { min, max } = CHUNKING
const SIZES: Array<[string, number]> = [
  ['0 bytes', 0],
  ['1 byte', 1],
  ['2 bytes', 2],
  ['the least chunk size - 1', min - 1],
  ['the least chunk size', min],
  ['the least chunk size + 1', min + 1],
  ['the greatest chunk size - 1', max - 1],
  ['the greatest chunk size', max],
  ['the greatest chunk size + 1', max + 1],
  ['2 × the greatest chunk size + 3', 2 * max + 3]
]

for (const [name, size] of SIZES) {
  RoundTrip(`a blob of ${name} reads back unchanged under the sha-256 of its bytes`, async ({ t }) => {
    const data = seededBytes(size, size)
    const put = await putBlob(t.store, data)
    assert.is(put.id.toString(), expectedId(data))
    assert.is(put.size, size)
    assert.ok(put.created)
    const back = await expectNoUnhandledRejection(async () => await readBlobBytes(t.store, put.id))
    assert.is(back.length, size)
    assert.is(sha256(back), sha256(data))
    assert.is(await blobSize(t.store, put.id), size)
    const record = await readBlobRecord(t.store, put.id)
    const ends = chunkEnds(data)
    assert.equal(record?.chunks.map(([, length]) => length), ends.map((end, i) => end - (ends[i - 1] ?? 0)), 'stored as the chunks its content cuts into')
    assert.ok(record!.chunks.every(([, length], i) => length <= max && (length >= min || i === ends.length - 1)), 'every chunk but the last between the bounds')
    if (size <= min) assert.is(record?.chunks.length, size === 0 ? 0 : 1, 'a blob up to the least chunk size stays whole')
  })
}

RoundTrip('putting the same bytes again gives the same id and creates nothing', async ({ t }) => {
  const data = seededBytes(5000, 1)
  const first = await putBlob(t.store, data)
  const second = await putBlob(t.store, data)
  assert.is(second.id.toString(), first.id.toString())
  assert.is(second.created, false)
  assert.is((await storeStats(t.store)).blobs, 1)
})

RoundTrip('blobs of many sizes put at once, in waves, each read back unchanged', async ({ t }) => {
  // Ingests reuse each other's memory once done: each wave runs more at once than the memories kept between
  // them, small blobs beside ones of several chunks, so a memory handed to two ingests shows here.
  const sizes = [3, min - 1, 17, max + 5, 200, min + 3, 1, 2 * max + 1, 4096, 70]
  for (let wave = 0; wave < 3; wave++) {
    const datas = Array.from({ length: 24 }, (_, i) => seededBytes(sizes[i % sizes.length]!, wave * 100 + i))
    const puts = await Promise.all(datas.map(async (data) => await putBlob(t.store, data)))
    for (const [i, data] of datas.entries()) {
      assert.is(puts[i]!.id.toString(), expectedId(data))
      assert.is(sha256(await readBlobBytes(t.store, puts[i]!.id)), sha256(data), `blob ${i} of wave ${wave}`)
    }
  }
  assert.equal((await verifyStore(t.store)).problems, [])
})

RoundTrip.run()

// ---------------------------------------------------------------- streaming

const Streaming = storeSuite('blob streaming')

async function * asyncPieces (data: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0
  for (const size of sizes) {
    yield data.subarray(at, at + size)
    at += size
  }
  if (at < data.length) yield data.subarray(at)
}

Streaming('a streamed put of odd-sized pieces gives the same id as one buffer', async ({ t }) => {
  const data = seededBytes(2 * max + 3, 9)
  const whole = await putBlob(t.store, data)
  const other = await tempStore()
  try {
    const streamed = await putBlob(other.store, asyncPieces(data, [1, 0, 7, 4093, max - 5, 3, max + 17, 2]))
    assert.is(streamed.id.toString(), whole.id.toString())
    assert.is(streamed.size, data.length)
    assert.is(sha256(await readBlobBytes(other.store, streamed.id)), sha256(data))
  } finally {
    await other.dispose()
  }
})

Streaming('any split of the bytes into pieces gives the id of the whole', async ({ t }) => {
  const data = seededBytes(2 * max + 10, 3)
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: data.length }),
    fc.array(fc.integer({ min: 0, max: max + 100 }), { maxLength: 6 }),
    async (length, sizes) => {
      const slice = data.subarray(0, length)
      const put = await putBlob(t.store, asyncPieces(slice, sizes))
      assert.is(put.id.toString(), expectedId(slice))
      assert.is(sha256(await readBlobBytes(t.store, put.id)), sha256(slice))
    }), { numRuns: 20 })
})

Streaming('a put from a synchronous iterable of pieces gives the same id as one buffer', async ({ t }) => {
  const data = seededBytes(max + 1, 4)
  const put = await putBlob(t.store, [data.subarray(0, 10), data.subarray(10, max), data.subarray(max)])
  assert.is(put.id.toString(), expectedId(data))
})

Streaming.run()

// ---------------------------------------------------------------- bad input

const Inputs = storeSuite('blob inputs')

Inputs('putFile of a missing file fails with E_NOT_FOUND and writes nothing', async ({ t }) => {
  const err = await expectCode(putFile(t.store, join(t.dir, 'absent.bin')), 'E_NOT_FOUND')
  assert.match(err.message, 'absent.bin')
  assert.is((await storeStats(t.store)).blobs, 0)
})

Inputs('putFile of a directory fails with E_BAD_INPUT and writes nothing', async ({ t }) => {
  const dir = join(t.dir, 'a-directory')
  await mkdir(dir)
  const err = await expectCode(putFile(t.store, dir), 'E_BAD_INPUT')
  assert.match(err.message, 'a-directory')
  assert.is((await storeStats(t.store)).blobs, 0)
})

Inputs('readBlob of an unknown id fails with E_NOT_FOUND naming the id', async ({ t }) => {
  const unknown = cidFromHex(RAW, sha256(new Uint8Array([1, 2, 3])))
  const err = await expectCode(collect(readBlob(t.store, unknown)), 'E_NOT_FOUND')
  assert.match(err.message, unknown.toString())
  assert.is(await hasBlob(t.store, unknown), false)
  await expectCode(blobSize(t.store, unknown), 'E_NOT_FOUND')
})

Inputs.run()

// ---------------------------------------------------------------- tampering

const Tampering = storeSuite('blob tampering')

interface TamperCase {
  name: string
  size: number
  /** Damages the stored blob `id` (whose bytes are `data`) in its store at `path`; returns what the error must name. */
  tamper: (db: RawDb, path: string, id: CID, data: Uint8Array, other: CID) => Promise<{ names: string[], yieldedChunks: number }>
}

/** The bytes of chunk `index` of `data`, as the store's chunking cuts it. */
function chunkOf (data: Uint8Array, index: number): Uint8Array {
  const ends = chunkEnds(data)
  return data.subarray(ends[index - 1] ?? 0, ends[index])
}

async function putRecord (db: RawDb, id: CID, record: unknown): Promise<void> {
  await rawSublevel(db, 'blob').put(digestHex(id), codec.encode(record))
}

const TAMPER_CASES: TamperCase[] = [
  {
    name: 'a flipped byte in its only chunk',
    size: 1000,
    tamper: async (db, path, _id, data) => {
      const bad = flipByte(data, 500)
      await rawChunks(db, path).put(sha256(data), bad)
      return { names: [sha256(data), sha256(bad)], yieldedChunks: 0 }
    }
  },
  {
    name: 'a flipped byte in the middle of three chunks',
    size: 2 * max + 3,
    tamper: async (db, path, _id, data) => {
      const good = chunkOf(data, 1)
      const bad = flipByte(good, 12345)
      await rawChunks(db, path).put(sha256(good), bad)
      return { names: [sha256(good), sha256(bad)], yieldedChunks: 1 }
    }
  },
  {
    name: 'a truncated last chunk',
    size: max + 100,
    tamper: async (db, path, _id, data) => {
      const good = chunkOf(data, 1)
      const bad = good.subarray(0, good.length - 1)
      await rawChunks(db, path).put(sha256(good), bad)
      return { names: [sha256(good), sha256(bad)], yieldedChunks: 1 }
    }
  },
  {
    name: 'a deleted chunk',
    size: 2 * max + 3,
    tamper: async (db, path, _id, data) => {
      await rawChunks(db, path).del(sha256(chunkOf(data, 1)))
      return { names: ['missing', sha256(chunkOf(data, 1))], yieldedChunks: 1 }
    }
  },
  {
    name: 'a blob record that points at the chunks of another blob',
    size: 1000,
    tamper: async (db, _path, id, _data, other) => {
      const otherRecord = await rawSublevel(db, 'blob').get(digestHex(other))
      await rawSublevel(db, 'blob').put(digestHex(id), otherRecord!)
      return { names: [digestHex(id), digestHex(other)], yieldedChunks: 0 }
    }
  },
  {
    name: 'a blob record that lists no chunks',
    size: 1000,
    tamper: async (db, _path, id) => {
      await putRecord(db, id, { size: 0, chunks: [] })
      return { names: [digestHex(id), sha256(new Uint8Array(0))], yieldedChunks: 0 }
    }
  },
  {
    name: 'a blob record that claims another size',
    size: 1000,
    tamper: async (db, _path, id) => {
      const record = codec.decode<BlobRecord>((await rawSublevel(db, 'blob').get(digestHex(id)))!)
      await putRecord(db, id, { ...record, size: record.size + 1 })
      return { names: [digestHex(id)], yieldedChunks: 0 }
    }
  },
  {
    name: 'a blob record of malformed CBOR',
    size: 1000,
    tamper: async (db, _path, id) => {
      await rawSublevel(db, 'blob').put(digestHex(id), Uint8Array.from([0xa2, 0x61]))
      return { names: [], yieldedChunks: 0 }
    }
  },
  {
    name: 'a blob record whose chunk list is not a list',
    size: 1000,
    tamper: async (db, _path, id) => {
      await putRecord(db, id, { size: 1000, chunks: 'none' })
      return { names: [id.toString()], yieldedChunks: 0 }
    }
  }
]

for (const row of TAMPER_CASES) {
  Tampering(`readBlob of a blob with ${row.name} fails with E_CORRUPT`, async ({ t }) => {
    const data = seededBytes(row.size, 11)
    const { id } = await putBlob(t.store, data)
    const { id: other } = await putBlob(t.store, seededBytes(row.size, 12))
    let expected: { names: string[], yieldedChunks: number } = { names: [], yieldedChunks: 0 }
    await t.editRaw(async (db) => { expected = await row.tamper(db, t.path, id, data, other) })

    const { yielded, error } = await expectNoUnhandledRejection(async () => await drain(readBlob(t.store, id)))
    assert.ok(error !== undefined, 'reading the damaged blob fails')
    const err = await expectCode(Promise.reject(error), 'E_CORRUPT')
    for (const name of expected.names) assert.match(err.message, name)
    assert.is(yielded.length, chunkEnds(data)[expected.yieldedChunks - 1] ?? 0, 'only the chunks before the damaged one are yielded')
    assert.is(sha256(yielded), sha256(data.subarray(0, yielded.length)), 'what was yielded is the true content')
    // The other blob is untouched by the damage.
    assert.is(sha256(await readBlobBytes(t.store, other)), sha256(seededBytes(row.size, 12)))
  })
}

Tampering('a digest mismatch names the expected and computed digests in its message and details', async ({ t }) => {
  const data = seededBytes(300, 5)
  const { id } = await putBlob(t.store, data)
  const bad = flipByte(data, 0)
  await t.editRaw(async (db) => { await rawChunks(db, t.path).put(sha256(data), bad) })
  const err = await expectCode(readBlobBytes(t.store, id), 'E_CORRUPT')
  assert.match(err.message, id.toString())
  assert.match(err.message, `expected ${sha256(data)}`)
  assert.match(err.message, `computed ${sha256(bad)}`)
  assert.is(err.details['expected'], sha256(data))
  assert.is(err.details['computed'], sha256(bad))
})

Tampering.run()

// ---------------------------------------------------------------- large blobs

// From 32 MiB on, a blob is written and read with its hashing on other threads: the same promises hold.
const Large = storeSuite('large blobs')
const LARGE_SIZE = 40 * 1024 * 1024 + 5

Large('a 40 MiB blob stored from a file reads back unchanged, and putBlob of the same bytes finds it', async ({ t }) => {
  const data = seededBytes(LARGE_SIZE, 31)
  const path = join(t.dir, 'large.bin')
  await writeFile(path, data)
  const put = await putFile(t.store, path)
  assert.is(put.id.toString(), expectedId(data))
  assert.is(sha256(await readBlobBytes(t.store, put.id)), sha256(data))
  const again = await putBlob(t.store, data)
  assert.equal([again.id.toString(), again.created], [put.id.toString(), false])
  const record = await readBlobRecord(t.store, put.id)
  assert.equal(record?.chunks.map(([, size]) => size), chunkEnds(data).map((end, i, ends) => end - (ends[i - 1] ?? 0)))
})

Large('a 40 MiB blob with a damaged chunk in the middle fails with E_CORRUPT after yielding only the true bytes before it', async ({ t }) => {
  const data = seededBytes(LARGE_SIZE, 32)
  const { id } = await putBlob(t.store, data)
  const ends = chunkEnds(data)
  const middle = Math.floor(ends.length / 2)
  const good = chunkOf(data, middle)
  await t.editRaw(async (db) => { await rawChunks(db, t.path).put(sha256(good), flipByte(good, 99)) })
  const { yielded, error } = await expectNoUnhandledRejection(async () => await drain(readBlob(t.store, id)))
  const err = await expectCode(Promise.reject(error), 'E_CORRUPT')
  assert.match(err.message, `chunk ${middle} digest mismatch: expected ${sha256(good)}`)
  assert.ok(yielded.length <= ends[middle - 1]!, 'nothing from the damaged chunk on was yielded')
  assert.is(sha256(yielded), sha256(data.subarray(0, yielded.length)))
})

Large('a 40 MiB blob with a missing chunk fails with E_CORRUPT naming it', async ({ t }) => {
  const data = seededBytes(LARGE_SIZE, 33)
  const { id } = await putBlob(t.store, data)
  const lost = chunkOf(data, 3)
  await t.editRaw(async (db) => { await rawChunks(db, t.path).del(sha256(lost)) })
  const err = await expectCode(readBlobBytes(t.store, id), 'E_CORRUPT')
  assert.match(err.message, `chunk 3 (${sha256(lost)}) is missing`)
})

Large.run()

// ---------------------------------------------------------------- dedup

const Dedup = storeSuite('blob dedup')
/** A pack file begins with a magic string and version (12 bytes), and each chunk in it with its length and digest (36 bytes): README, Store format. */
const PACK_HEADER_BYTES = 12
const RECORD_HEADER_BYTES = 36

Dedup('a chunk shared by two blobs is stored once and both read back', async ({ t }) => {
  const shared = seededBytes(max, 21)
  const a = Buffer.concat([shared, Buffer.from('tail of a')])
  const b = Buffer.concat([shared, Buffer.from('tail of b, longer')])
  const putA = await putBlob(t.store, a)
  const putB = await putBlob(t.store, b)
  assert.is.not(putA.id.toString(), putB.id.toString())

  const stats = await storeStats(t.store)
  assert.is(stats.blobs, 2)
  assert.is(stats.logicalBytes, a.length + b.length)
  assert.is(stats.storedBytes, distinctChunkBytes([a, b]))
  const chunksOfA = chunkEnds(a).length
  assert.ok(chunksOfA > 1, 'the shared bytes span chunks')
  assert.is((await collect(t.store.sub.chunkAt.keys())).length, chunksOfA + 1, 'only the last chunk of each is its own')

  assert.is(sha256(await readBlobBytes(t.store, putA.id)), sha256(a))
  assert.is(sha256(await readBlobBytes(t.store, putB.id)), sha256(b))
})

Dedup('blobs put at the same time write each chunk they share to the packs once, and each reads back whole', async ({ t }) => {
  const shared = seededBytes(3 * max, 27)
  const a = Buffer.concat([shared, Buffer.from('tail of a')])
  const b = Buffer.concat([shared, Buffer.from('tail of b, longer')])
  // a twice, as two ingests of the same bytes at once, and b sharing all but its last chunk with a.
  const puts = await Promise.all([a, b, Buffer.from(a), b.subarray(0, 2 * max), a].map(async (bytes) => await putBlob(t.store, bytes)))
  const distinct = [a, b, b.subarray(0, 2 * max)]
  const chunks = new Set(distinct.flatMap((bytes) => {
    let from = 0
    return chunkEnds(bytes).map((end) => sha256(bytes.subarray(from, from = end)))
  }))
  const stats = await storeStats(t.store)
  assert.is(stats.storedBytes, distinctChunkBytes(distinct))
  assert.is(stats.packBytes, PACK_HEADER_BYTES + chunks.size * RECORD_HEADER_BYTES + distinctChunkBytes(distinct), 'no chunk is written to the packs twice')
  for (const [i, bytes] of [a, b, a, b.subarray(0, 2 * max), a].entries()) assert.is(sha256(await readBlobBytes(t.store, puts[i]!.id)), sha256(bytes))
  assert.equal((await verifyStore(t.store)).problems, [])
})

Dedup('blobs put at the same time, some already stored and some new, each read back whole and nothing is written twice', async ({ t }) => {
  // Ingests asking together about their chunks are answered by one lookup: each must get its own answers.
  const stored = Array.from({ length: 6 }, (_, i) => seededBytes(100 + i, 40 + i))
  for (const bytes of stored) await putBlob(t.store, bytes)
  const fresh = Array.from({ length: 6 }, (_, i) => seededBytes(200 + i, 50 + i))
  const mixed = stored.flatMap((bytes, i) => i % 2 === 0 ? [bytes, fresh[i]!] : [fresh[i]!, bytes])
  const puts = await Promise.all(mixed.map(async (bytes) => await putBlob(t.store, bytes)))
  for (const [i, bytes] of mixed.entries()) {
    assert.is(puts[i]!.created, fresh.includes(bytes), `blob ${i} is new exactly when it was not stored before`)
    assert.is(sha256(await readBlobBytes(t.store, puts[i]!.id)), sha256(bytes), `blob ${i}`)
  }
  const all = [...stored, ...fresh]
  assert.is((await storeStats(t.store)).packBytes, PACK_HEADER_BYTES + all.length * RECORD_HEADER_BYTES + distinctChunkBytes(all), 'no chunk is written to the packs twice')
  assert.equal((await verifyStore(t.store)).problems, [])
})

Dedup('questions about stored blobs asked together each get their own answer', async ({ t }) => {
  const stored = await Promise.all([1, 2, 3].map(async (i) => digestHex((await putBlob(t.store, seededBytes(50, i))).id)))
  const absent = [4, 5, 6].map((i) => sha256(seededBytes(50, i)))
  // The first question starts a lookup; the others, asked while it runs, go together in the next.
  const keys = [absent[0]!, stored[0]!, absent[1]!, stored[1]!, stored[2]!, absent[2]!]
  assert.equal(await Promise.all(keys.map(async (key) => await isBlobStored(t.store, key))), keys.map((key) => stored.includes(key)))
})

Dedup('a blob whose bytes are exactly a chunk of another blob shares that chunk', async ({ t }) => {
  const big = seededBytes(3 * max, 22)
  await putBlob(t.store, big)
  const before = (await collect(t.store.sub.chunkAt.keys())).length
  const alone = await putBlob(t.store, chunkOf(big, 1))
  assert.is((await collect(t.store.sub.chunkAt.keys())).length, before, 'no chunk is added')
  assert.is(sha256(await readBlobBytes(t.store, alone.id)), sha256(chunkOf(big, 1)))
})

Dedup('a change in place rewrites only the chunks it touches', async ({ t }) => {
  const state = seededBytes(4 * max, 23)
  const changed = Uint8Array.from(state)
  changed.set(seededBytes(1000, 24), 2 * max)
  await putBlob(t.store, state)
  const before = (await storeStats(t.store)).storedBytes
  await putBlob(t.store, changed)
  const added = (await storeStats(t.store)).storedBytes - before
  assert.ok(added > 0 && added <= 2 * max, `a 1000-byte change in place adds at most two chunks (${added} bytes)`)
})

Dedup('an insertion moves no boundary beyond the chunk it falls in', async () => {
  const state = seededBytes(4 * max, 25)
  const inserted = Buffer.concat([state.subarray(0, max), Buffer.from('seventeen bytes!!'), state.subarray(max)])
  // Boundaries counted from the end: those past the insertion's chunk are found again at the same distance.
  const fromEnd = (data: Uint8Array): number[] => chunkEnds(data).map((end) => data.length - end)
  const later = fromEnd(state).filter((distance) => distance < state.length - 2 * max)
  assert.ok(later.length > 0)
  for (const distance of later) assert.ok(fromEnd(inserted).includes(distance), `the boundary ${distance} bytes before the end is kept`)
})

Dedup('a damaged chunk shared by two blobs is reported by readBlob and verify for both', async ({ t }) => {
  const shared = seededBytes(max, 26)
  const bytesA = Buffer.concat([shared, Buffer.from('a')])
  const a = await putBlob(t.store, bytesA)
  const b = await putBlob(t.store, Buffer.concat([shared, Buffer.from('b')]))
  const first = chunkOf(bytesA, 0)
  await t.editRaw(async (db) => { await rawChunks(db, t.path).put(sha256(first), flipByte(first, 7)) })
  for (const id of [a.id, b.id]) await expectCode(readBlobBytes(t.store, id), 'E_CORRUPT')
  const report = await verifyStore(t.store)
  for (const id of [a.id, b.id]) assert.ok(report.problems.some((problem) => problem.startsWith(`blob ${id.toString()}:`)), `verify names ${id.toString()}`)
  const sampled = await verifyStore(t.store, { sample: 100 })
  for (const id of [a.id, b.id]) {
    assert.ok(sampled.problems.some((problem) => problem.startsWith(`blob ${id.toString()}:`) && problem.includes(sha256(first))), `verify --sample names ${id.toString()}`)
  }
})

Dedup('verify --sample 100 re-hashes a chunk two blobs share once: every chunk the store holds, one time each', async ({ t }) => {
  const shared = seededBytes(max, 27)
  const a = await putBlob(t.store, Buffer.concat([shared, Buffer.from('a')]))
  const b = await putBlob(t.store, Buffer.concat([shared, Buffer.from('b')]))
  const listed = [...(await readBlobRecord(t.store, a.id))!.chunks, ...(await readBlobRecord(t.store, b.id))!.chunks].map(([digest]) => Buffer.from(digest).toString('hex'))
  const distinct = new Set(listed).size
  assert.ok(distinct < listed.length, 'the blobs share a chunk')
  const report = await verifyStore(t.store, { sample: 100 })
  assert.ok(report.ok, report.problems.join('\n'))
  assert.equal(report.sampled, { chunks: distinct, of: distinct })
})

Dedup.run()
