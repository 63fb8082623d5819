import { createHash } from 'node:crypto'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { appendEvents, digestHex, exportBlobs, listBlobIds, putBlob } from '../src/index.ts'
import { collect, expectCode, expectNoUnhandledRejection, rawChunks, seededBytes, storeSuite } from './_helpers/store.ts'
import type { CID } from 'multiformats/cid'
import type { Store } from '../src/index.ts'

const MiB = 1024 * 1024

/** Stores each content as a snapshot, in order. */
async function snapshots (store: Store, contents: readonly Uint8Array[]): Promise<CID[]> {
  const ids: CID[] = []
  for (const content of contents) ids.push((await putBlob(store, content)).id)
  await appendEvents(store, contents.map((content, i) => ({ type: 'blob.add', body: { blob: ids[i]!, kind: 'snapshot', size: content.length } })))
  return ids
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

const Export = storeSuite('exportBlobs')

Export('more blobs than it writes at once, one larger than it holds in flight, are each written whole, and SHA256SUMS lists them in order', async ({ t }) => {
  // Twenty small blobs around one of 33 MiB, which is written alone.
  const contents = Array.from({ length: 21 }, (_, i) => i === 10 ? seededBytes(33 * MiB, 61) : seededBytes(1000 + 997 * i, 70 + i))
  const ids = await snapshots(t.store, contents)
  const dir = join(t.path, '..', 'exported')
  const written = await exportBlobs(t.store, 'snapshot', dir)
  const listed = await collect(listBlobIds(t.store, 'snapshot'))
  assert.equal(written.map(({ id }) => id.toString()), listed)
  assert.equal((await readdir(dir)).sort(), [...ids.map(String), 'SHA256SUMS'].sort())
  for (const [i, id] of ids.entries()) assert.is(sha256(await readFile(join(dir, id.toString()))), sha256(contents[i]!), `blob ${i} is whole`)
  assert.is(await readFile(join(dir, 'SHA256SUMS'), 'utf8'), listed.map((id) => `${digestHex(ids.find((cid) => cid.toString() === id)!)}  ${id}\n`).join(''))
})

Export('a damaged blob among many fails the export with E_CORRUPT, leaves no file for it and no temporary file, and leaves nothing unhandled', async ({ t }) => {
  const contents = Array.from({ length: 20 }, (_, i) => seededBytes(2000 + i, 90 + i))
  const ids = await snapshots(t.store, contents)
  const damaged = 7
  await t.editRaw(async (db) => { await rawChunks(db, t.path).put(digestHex(ids[damaged]!), seededBytes(2000 + damaged, 1)) })
  const dir = join(t.path, '..', 'exported')
  await expectNoUnhandledRejection(async () => { await expectCode(exportBlobs(t.store, 'snapshot', dir), 'E_CORRUPT') })
  const files = await readdir(dir)
  assert.not.ok(files.includes(ids[damaged]!.toString()), 'the damaged blob has no file')
  assert.equal(files.filter((name) => name.endsWith('.tmp')), [], 'no temporary file is left')
  assert.not.ok(files.includes('SHA256SUMS'), 'no SHA256SUMS for an export that failed')
  for (const name of files) assert.is(sha256(await readFile(join(dir, name))), digestHex(ids.find((id) => id.toString() === name)!), `${name} is whole`)
})

Export.run()
