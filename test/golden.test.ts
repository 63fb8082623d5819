import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import * as assert from 'uvu/assert'
import { addBlob, digestHex, eventId, openEvent, putBlob, putFile, readBlobBytes, sealEvent } from '../src/index.ts'
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
