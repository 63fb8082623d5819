import { readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as assert from 'uvu/assert'
import { decode } from '../src/codec.ts'
import { FORMAT_VERSION, closeStore, initStore, listBlobIds, listTags, mergeStores, openStore, putBlob, readBlobBytes, verifyStore } from '../src/index.ts'
import { collect, expectCode, fixtureCopySuite, seededBytes } from './_helpers/store.ts'
import { digestOf, dumpStore, expectOk, jsonLines, lines, sha256Hex, snap, sublevel, withDb, withLibrary } from './_helpers/cli.ts'

// What the format 1 CLI wrote into fixtures/store-v1 (see its README.md).
const SMALL = { id: 'bafkreiaasrw3fnpopsnemllm6ynwdi5qfu7du3gl3ck3exnolexxp3fwey', sha256: '00946db2b5ee7c9a462d6cf61b61a3b02d3e3a6ccbd895b25dae592f77ecb626' }
const BIG = { id: 'bafkreia64jp5rrcgk5husm6scaura443645lrr4qsypykh6odeqfp6bso4', sha256: '1ee25fd8c446574f4933d2102910739bf73ab8c790961f851fce192057f83277' }
const CONFIG = { id: 'bafkreih2wjitdqzoplu65mho323rakh46plgq4dnzjz5qsb35pnwnufvhy', sha256: 'fab25131c32e7ae9eeb0eedeb71028fcf3d668706dca73d8483bebdb66d0b53e' }
const BLOBS = [SMALL, BIG, CONFIG]
/** Its distinct chunks: the big snapshot's three 1 MiB-cut chunks (two of them equal), and the two small blobs whole. */
const INLINE_CHUNKS = 4
const INLINE_BYTES = 1048576 + 524288 + 15 + 17

/** The format recorded in the (closed) store's metadata, and the keys of its `chunk-at` and `chunk` sublevels. */
async function rawFormat (path: string): Promise<{ format: number, located: string[], inline: string[] }> {
  return await withDb(path, async (db) => {
    const format = await sublevel(db, 'meta').get('format')
    return {
      format: decode<number>(format!),
      located: await collect(sublevel(db, 'chunk-at').keys()),
      inline: await collect(sublevel(db, 'chunk').keys())
    }
  })
}

/** The files of the store's `packs` directory, none when it does not exist. */
async function packFiles (path: string): Promise<string[]> {
  return await readdir(join(path, 'packs')).catch(() => [])
}

/** Reads every blob of the fixture through the library and returns their sha-256 digests. */
async function readFixtureBlobs (path: string): Promise<string[]> {
  return await withLibrary(path, async (store) => {
    const digests: string[] = []
    for (const { id } of BLOBS) digests.push(sha256Hex(await readBlobBytes(store, CID.parse(id))))
    return digests
  })
}

const V1 = fixtureCopySuite('format 1 store fixture', 'store-v1')

V1('verify (whole and sampled) passes on a format 1 store, and ls, get and show read it while it stays format 1 with no packs', async ({ copy: v1 }) => {
  const before = await dumpStore(v1)
  expectOk(await snap(['verify', v1]), 'ok: 4 events, 3 blobs\n')
  expectOk(await snap(['verify', v1, '--sample', '100']), 'ok: 4 events, 3 blobs\n')
  expectOk(await snap(['ls', 'snapshots', v1]), `${SMALL.id}\n${BIG.id}\n`)
  const big = await snap(['get', 'snapshot', v1, BIG.id])
  expectOk(big)
  assert.is(sha256Hex(big.out), BIG.sha256)
  const show = await snap(['show', v1, '--json'])
  expectOk(show)
  assert.equal([jsonLines(show.stdout)[0]?.['format'], jsonLines(show.stdout)[0]?.['storedBytes']], [1, INLINE_BYTES])

  assert.equal(await readFixtureBlobs(v1), BLOBS.map((blob) => blob.sha256))
  await withLibrary(v1, async (store) => {
    assert.equal(await collect(listBlobIds(store, 'config')), [CONFIG.id])
    assert.equal((await collect(listTags(store))).map((tag) => [tag.name, tag.target.toString()]), [['start', SMALL.id]])
  })
  assert.equal(await dumpStore(v1), before, 'reading changed nothing in the database')
  const raw = await rawFormat(v1)
  assert.equal([raw.format, raw.located.length, raw.inline.length], [1, 0, INLINE_CHUNKS])
  assert.equal(await packFiles(v1), [])
})

V1('a merge that reads a format 1 store as its source leaves it unchanged and copies its inline chunks into the packs of the destination', async ({ dir, copy: v1 }) => {
  const before = await dumpStore(v1)
  const destPath = join(dir, 'dest')
  const dest = await initStore(destPath)
  try {
    const result = await mergeStores(dest, v1)
    assert.equal([result.events, result.blobs, result.bytes], [4, 3, INLINE_BYTES])
    assert.ok((await verifyStore(dest)).ok)
  } finally {
    await closeStore(dest)
  }
  assert.equal(await dumpStore(v1), before, 'the source database is as it was')
  assert.is((await rawFormat(v1)).format, 1)
  assert.equal(await packFiles(v1), [], 'no pack appeared in the source')

  const copied = await rawFormat(destPath)
  assert.equal([copied.format, copied.located.length, copied.inline.length], [FORMAT_VERSION, INLINE_CHUNKS, 0])
  assert.is((await stat(join(destPath, 'packs', '000001.pack'))).size, 12 + 36 * INLINE_CHUNKS + INLINE_BYTES, 'each distinct chunk once in the pack')
  assert.equal(await readFixtureBlobs(destPath), BLOBS.map((blob) => blob.sha256))
})

V1('adding a blob to a format 1 store raises it to the current format, with a pack; old and new blobs read back and verify passes', async ({ copy: v1 }) => {
  const data = seededBytes(3 * 1024 * 1024, 7)
  const added = await withLibrary(v1, async (store) => (await putBlob(store, data)).id.toString())
  const raw = await rawFormat(v1)
  assert.equal([raw.format, raw.inline.length], [FORMAT_VERSION, INLINE_CHUNKS], 'the old chunks stay where they were')
  assert.ok(raw.located.length > 1, 'the new blob\'s chunks are in the packs')
  assert.equal(await packFiles(v1), ['000001.pack'])

  assert.equal(await readFixtureBlobs(v1), BLOBS.map((blob) => blob.sha256))
  await withLibrary(v1, async (store) => { assert.is(sha256Hex(await readBlobBytes(store, CID.parse(added))), sha256Hex(data)) })
  expectOk(await snap(['verify', v1]), 'ok: 4 events, 4 blobs\n')
  const add = await snap(['add', 'config', v1, '-'], { input: 'a config added by this snapstore\n' })
  expectOk(add)
  const [config] = lines(add.stdout)
  assert.is(digestOf(config!), sha256Hex('a config added by this snapstore\n'))
  expectOk(await snap(['verify', v1]), 'ok: 5 events, 5 blobs\n')
})

V1('a format 1 store is marked with the current format before its first pack is created, so an older snapstore refuses it rather than miss chunks', async ({ copy: v1 }) => {
  // A file where the packs directory should be: the first pack cannot be created.
  await writeFile(join(v1, 'packs'), 'not a directory')
  const store = await openStore(v1)
  try {
    const err = await expectCode(putBlob(store, seededBytes(200 * 1024, 8)), 'E_CORRUPT')
    assert.match(err.message, 'packs', 'the error names the packs folder')
  } finally {
    await closeStore(store)
  }
  const raw = await rawFormat(v1)
  assert.equal([raw.format, raw.located], [FORMAT_VERSION, []], 'the format was raised before any pack byte was written')
  await rm(join(v1, 'packs'))
  assert.equal(await readFixtureBlobs(v1), BLOBS.map((blob) => blob.sha256))
  assert.ok(await withLibrary(v1, async (opened) => (await verifyStore(opened)).ok))
})

V1.run()
