import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as assert from 'uvu/assert'
import { CHUNKING, addBlob, chunkEnds, codec, digestHex, eventId, openEvent, putBlob, putFile, readBlobBytes, sealEvent } from '../src/index.ts'
import { readBlobRecord } from '../src/blobs.ts'
import { fixturePath, storeSuite } from './_helpers/store.ts'
import type { SnapEvent } from '../src/index.ts'

// Pinned once from the fixtures (see fixtures/golden/README.md); a change here is a change of the store format.
const SNAPSHOT_ID = 'bafkreicoxyvixvpm5e73rgnwr2ff7zsemszalcs53stma6n4sb4tbkrqam'
const SNAPSHOT_SHA256 = '4ebe2a8bd5ece93fb899b68e8a5fe64464b2058a5ddca6c079bc907930aa3003'
const EVENT_ID = 'bafyreieqxqz3mkqp427q7ne23e6ljce2mpuhprjto4nvqed3mpjg5ofate'

const SNAPSHOT = fixturePath('golden/snapshot.bin')

/** The documented content of snapshot.bin: byte i is (i * 31 + 7) mod 256. */
function snapshotPattern (): Uint8Array {
  return Uint8Array.from({ length: 300 }, (_, i) => (i * 31 + 7) & 0xff)
}

async function goldenEvent (): Promise<SnapEvent> {
  const json = JSON.parse(await readFile(fixturePath('golden/event.json'), 'utf8')) as SnapEvent & { body: { blob: string } }
  return { ...json, body: { ...json.body, blob: CID.parse(json.body.blob) } } as SnapEvent
}

const Golden = storeSuite('golden ids')

Golden('snapshot.bin holds the documented 300-byte pattern', async () => {
  assert.equal(new Uint8Array(await readFile(SNAPSHOT)), snapshotPattern())
})

Golden('the digest inside the snapshot id is the sha256sum of the file', async () => {
  const computed = createHash('sha256').update(await readFile(SNAPSHOT)).digest('hex')
  assert.is(computed, SNAPSHOT_SHA256)
  assert.is(digestHex(CID.parse(SNAPSHOT_ID)), computed)
})

Golden('putFile of snapshot.bin gives the pinned bafkrei id', async ({ t }) => {
  const put = await putFile(t.store, SNAPSHOT)
  assert.is(put.id.toString(), SNAPSHOT_ID)
  assert.is(put.size, 300)
})

Golden('putBlob of the same bytes streamed in pieces gives the pinned id', async ({ t }) => {
  const data = await readFile(SNAPSHOT)
  const put = await putBlob(t.store, [data.subarray(0, 7), data.subarray(7, 200), data.subarray(200)])
  assert.is(put.id.toString(), SNAPSHOT_ID)
})

Golden('addBlob of snapshot.bin records the pinned id and reads back the same bytes', async ({ t }) => {
  const added = await addBlob(t.store, 'snapshot', { path: SNAPSHOT }, { name: 'golden-snapshot' })
  assert.is(added.id.toString(), SNAPSHOT_ID)
  assert.is(added.events.length, 1)
  const back = await readBlobBytes(t.store, added.id)
  assert.is(createHash('sha256').update(back).digest('hex'), SNAPSHOT_SHA256)
})

Golden('sealEvent of event.json gives the pinned bafyrei id', async () => {
  const sealed = sealEvent(await goldenEvent())
  assert.is(sealed.id.toString(), EVENT_ID)
  assert.is(eventId(sealed.bytes).toString(), EVENT_ID)
})

Golden('@ipld/dag-cbor encodes event.json to the bytes of the pinned event id', async () => {
  const event = await goldenEvent()
  const bytes = dagCbor.encode(event)
  assert.is(eventId(bytes).toString(), EVENT_ID)
  assert.is(Buffer.from(sealEvent(event).bytes).toString('hex'), Buffer.from(bytes).toString('hex'))
})

Golden('openEvent of the sealed golden bytes gives back the event and its id', async () => {
  const event = await goldenEvent()
  const opened = openEvent(sealEvent(event).bytes, 'golden')
  assert.is(opened.id.toString(), EVENT_ID)
  assert.is(opened.event.type, 'blob.add')
  assert.is((opened.event.body as { blob: CID }).blob.toString(), SNAPSHOT_ID)
  assert.is(opened.event.time, 1_700_000_000_000)
})

Golden.run()

// ---------------------------------------------------------------- chunk boundaries

const CHUNKING_FIXTURE = fixturePath('golden/chunking.bin')
const CHUNKING_SHA256 = 'ef3c9f496b7353b5719ed1e4b6e32df2eaee8de2b6f00f2d124425b58f0a746a'
const CHUNK_ENDS = [103907, 254264, 531383, 803783, 1091740, 1186590, 1492542, 1759749, 2031651, 2107801, 2306803, 2573432, 2621440]

const Boundaries = storeSuite('golden chunk boundaries')

Boundaries('chunking.bin holds the documented bytes: sha-256 of "snapstore chunking fixture K" for K = 0, 1, 2, …', async () => {
  const bytes = await readFile(CHUNKING_FIXTURE)
  assert.is(createHash('sha256').update(bytes).digest('hex'), CHUNKING_SHA256)
  assert.equal(new Uint8Array(bytes.subarray(32, 64)), new Uint8Array(createHash('sha256').update('snapstore chunking fixture 1').digest()))
})

Boundaries('the chunk boundaries of chunking.bin are pinned: they depend on content and on the format only', async () => {
  assert.equal(chunkEnds(await readFile(CHUNKING_FIXTURE)), CHUNK_ENDS)
})

Boundaries('a stored chunking.bin is kept as chunks of exactly the pinned sizes, each under its own digest', async ({ t }) => {
  const bytes = await readFile(CHUNKING_FIXTURE)
  const put = await putFile(t.store, CHUNKING_FIXTURE)
  const record = await readBlobRecord(t.store, put.id)
  const starts = [0, ...CHUNK_ENDS.slice(0, -1)]
  assert.equal(record?.chunks.map(([, size]) => size), CHUNK_ENDS.map((end, i) => end - starts[i]!))
  assert.equal(record?.chunks.map(([digest]) => Buffer.from(digest).toString('hex')),
    CHUNK_ENDS.map((end, i) => createHash('sha256').update(bytes.subarray(starts[i], end)).digest('hex')))
})

Boundaries('the chunking of a new store is recorded in its metadata', async ({ t }) => {
  assert.equal(codec.decode((await t.store.sub.meta.get('chunking'))!), CHUNKING)
  assert.equal(CHUNKING, { algorithm: 'fastcdc-gear32', min: 65536, avg: 262144, max: 1048576, hard: 0x7ffff000, easy: 0x7fff0000 })
})

Boundaries.run()
