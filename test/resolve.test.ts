import * as assert from 'uvu/assert'
import { MIN_PREFIX, addBlob, digestHex, putBlob, resolveId, setTag } from '../src/index.ts'
import { RAW, cidFromHex, sha256Hex } from '../src/ids.ts'
import { bytes, expectCode, storeSuite } from './_helpers/store.ts'
import type { Store } from '../src/index.ts'

/**
 * Every raw CID starts "bafkrei"; its 8th character carries the top 3 bits of the digest, so it splits blobs
 * into 8 buckets ("a" for digests below 0x20 … "h" for digests from 0xe0), and bucket "a" sorts first by digest.
 */
interface Candidate { data: Uint8Array, id: string }

/** Deterministic inputs grouped by the 8th character of their blob id, computed without a store. */
function byBucket (): Map<string, Candidate[]> {
  const buckets = new Map<string, Candidate[]>()
  for (let i = 0; i < 600; i++) {
    const data = bytes(`resolve input ${i}`)
    const id = cidFromHex(RAW, sha256Hex(data)).toString()
    const bucket = id[7]!
    buckets.set(bucket, [...(buckets.get(bucket) ?? []), { data, id }])
  }
  return buckets
}

const BUCKETS = byBucket()

/** `count` inputs whose ids start with `bafkrei` + `bucket`. */
function take (bucket: string, count: number): Candidate[] {
  const found = BUCKETS.get(bucket) ?? []
  assert.ok(found.length >= count, `need ${count} inputs in bucket ${bucket}, have ${found.length}`)
  return found.slice(0, count)
}

async function addAll (store: Store, candidates: readonly Candidate[]): Promise<void> {
  for (const c of candidates) {
    const { id } = await addBlob(store, 'snapshot', c.data)
    assert.is(id.toString(), c.id)
  }
}

// ---------------------------------------------------------------- forms of id

const Forms = storeSuite('resolve forms')

Forms('a full blob CID resolves to itself', async ({ t }) => {
  const { id } = await addBlob(t.store, 'snapshot', bytes('x'))
  assert.is((await resolveId(t.store, id.toString())).toString(), id.toString())
})

Forms('a full event CID resolves to itself', async ({ t }) => {
  const { events } = await addBlob(t.store, 'snapshot', bytes('x'))
  const id = events[0]!.id.toString()
  assert.is((await resolveId(t.store, id)).toString(), id)
  assert.is((await resolveId(t.store, id, 'event')).toString(), id)
})

Forms('a full CID the store lacks fails with E_NOT_FOUND', async ({ t }) => {
  const absent = cidFromHex(RAW, sha256Hex(bytes('absent'))).toString()
  const err = await expectCode(resolveId(t.store, absent), 'E_NOT_FOUND')
  assert.match(err.message, absent)
})

Forms('a tag name resolves to its target', async ({ t }) => {
  const { id } = await addBlob(t.store, 'snapshot', bytes('x'))
  await setTag(t.store, 'best', id)
  assert.is((await resolveId(t.store, 'best')).toString(), id.toString())
})

Forms('a short tag name resolves although it is shorter than any prefix', async ({ t }) => {
  const { id } = await addBlob(t.store, 'snapshot', bytes('x'))
  await setTag(t.store, 'v1', id)
  assert.is((await resolveId(t.store, 'v1')).toString(), id.toString())
})

Forms('a tag name wins over the id prefix it also is', async ({ t }) => {
  const x = await addBlob(t.store, 'snapshot', bytes('x'))
  const y = await addBlob(t.store, 'snapshot', bytes('y'))
  const prefixOfX = digestHex(x.id).slice(0, 8)
  await setTag(t.store, prefixOfX, y.id)
  assert.is((await resolveId(t.store, prefixOfX)).toString(), y.id.toString())
})

Forms('a unique CID prefix of at least 8 characters resolves', async ({ t }) => {
  await addAll(t.store, [...take('a', 3), ...take('d', 2)])
  const { id } = await addBlob(t.store, 'snapshot', bytes('x'))
  for (const length of [MIN_PREFIX + 8, 20, 40]) {
    assert.is((await resolveId(t.store, id.toString().slice(0, length))).toString(), id.toString(), `prefix of ${length}`)
  }
})

Forms('a unique hex digest prefix of at least 8 characters resolves, in either case', async ({ t }) => {
  await addAll(t.store, take('a', 3))
  const { id } = await addBlob(t.store, 'snapshot', bytes('x'))
  const hex = digestHex(id)
  assert.is((await resolveId(t.store, hex.slice(0, 8))).toString(), id.toString())
  assert.is((await resolveId(t.store, hex.slice(0, 9))).toString(), id.toString())
  assert.is((await resolveId(t.store, hex)).toString(), id.toString())
  assert.is((await resolveId(t.store, hex.slice(0, 12).toUpperCase())).toString(), id.toString())
})

Forms('an event id prefix resolves to the event', async ({ t }) => {
  const { events } = await addBlob(t.store, 'snapshot', bytes('x'))
  const id = events[0]!.id
  assert.is((await resolveId(t.store, id.toString().slice(0, 16))).toString(), id.toString())
  assert.is((await resolveId(t.store, digestHex(id).slice(0, 10), 'event')).toString(), id.toString())
})

Forms('a prefix shorter than 8 characters fails with E_BAD_INPUT', async ({ t }) => {
  const { id } = await addBlob(t.store, 'snapshot', bytes('x'))
  await expectCode(resolveId(t.store, id.toString().slice(0, 7)), 'E_BAD_INPUT')
  await expectCode(resolveId(t.store, digestHex(id).slice(0, 7)), 'E_BAD_INPUT')
})

Forms('a prefix that matches nothing fails with E_NOT_FOUND', async ({ t }) => {
  const { id } = await addBlob(t.store, 'snapshot', bytes('x'))
  const hex = digestHex(id)
  const other = (hex[0] === 'f' ? '0' : 'f') + hex.slice(1, 10)
  await expectCode(resolveId(t.store, other), 'E_NOT_FOUND')
  await expectCode(resolveId(t.store, 'no-such-tag-or-id'), 'E_NOT_FOUND')
})

Forms.run()

// ---------------------------------------------------------------- ambiguity

const Ambiguity = storeSuite('resolve ambiguity')

Ambiguity('an 8-character CID prefix shared by several blobs fails with E_AMBIGUOUS listing them', async ({ t }) => {
  const shared = take('a', 3)
  await addAll(t.store, [...shared, ...take('c', 3)])
  const err = await expectCode(resolveId(t.store, 'bafkreia'), 'E_AMBIGUOUS')
  assert.equal([...(err.details['candidates'] as string[])].sort(), shared.map((c) => c.id).sort())
  for (const c of shared) assert.match(err.message, c.id)
})

Ambiguity('a prefix matching more than ten blobs lists ten of them and says there are more', async ({ t }) => {
  await addAll(t.store, take('a', 12))
  const err = await expectCode(resolveId(t.store, 'bafkreia'), 'E_AMBIGUOUS')
  const candidates = err.details['candidates'] as string[]
  assert.is(candidates.length, 10)
  assert.ok(candidates.every((id) => id.startsWith('bafkreia')))
  assert.match(err.message, 'more than 10')
})

Ambiguity('an 8-character prefix shared by two blobs is ambiguous even when ten blobs sort before them', async ({ t }) => {
  const shared = take('b', 2)
  await addAll(t.store, [...take('a', 10), ...shared])
  const err = await expectCode(resolveId(t.store, 'bafkreib'), 'E_AMBIGUOUS')
  assert.equal([...(err.details['candidates'] as string[])].sort(), shared.map((c) => c.id).sort())
})

Ambiguity('a unique 8-character prefix resolves however many blobs sort before it', async ({ t }) => {
  const [last] = take('h', 1)
  await addAll(t.store, [...take('a', 12), last!])
  assert.is((await resolveId(t.store, 'bafkreih')).toString(), last!.id)
})

Ambiguity.run()

// ---------------------------------------------------------------- scope

const Scope = storeSuite('resolve scope')

Scope('a config id is not found as a snapshot', async ({ t }) => {
  const { id } = await addBlob(t.store, 'config', bytes('settings'))
  const err = await expectCode(resolveId(t.store, id.toString(), 'snapshot'), 'E_NOT_FOUND')
  assert.match(err.message, 'snapshot')
  assert.is((await resolveId(t.store, id.toString(), 'config')).toString(), id.toString())
  assert.is((await resolveId(t.store, id.toString(), 'any-blob')).toString(), id.toString())
})

Scope('a config digest prefix is not found as a snapshot', async ({ t }) => {
  const { id } = await addBlob(t.store, 'config', bytes('settings'))
  await expectCode(resolveId(t.store, digestHex(id).slice(0, 10), 'snapshot'), 'E_NOT_FOUND')
  assert.is((await resolveId(t.store, digestHex(id).slice(0, 10), 'config')).toString(), id.toString())
})

Scope('a prefix ambiguous across kinds is unique within one kind', async ({ t }) => {
  const [snapshot, config] = take('a', 2)
  await addBlob(t.store, 'snapshot', snapshot!.data)
  await addBlob(t.store, 'config', config!.data)
  await expectCode(resolveId(t.store, 'bafkreia'), 'E_AMBIGUOUS')
  assert.is((await resolveId(t.store, 'bafkreia', 'config')).toString(), config!.id)
})

Scope('a tag pointing at a config is not found as a snapshot', async ({ t }) => {
  const { id } = await addBlob(t.store, 'config', bytes('settings'))
  await setTag(t.store, 'cfg', id)
  const err = await expectCode(resolveId(t.store, 'cfg', 'snapshot'), 'E_NOT_FOUND')
  assert.match(err.message, id.toString())
})

Scope('a blob stored without blob.add resolves as any blob but not as a snapshot', async ({ t }) => {
  const { id } = await putBlob(t.store, bytes('bare'))
  assert.is((await resolveId(t.store, id.toString(), 'any-blob')).toString(), id.toString())
  await expectCode(resolveId(t.store, id.toString(), 'snapshot'), 'E_NOT_FOUND')
})

Scope('an event id is not found as a blob, nor a blob id as an event', async ({ t }) => {
  const { id, events } = await addBlob(t.store, 'snapshot', bytes('x'))
  await expectCode(resolveId(t.store, events[0]!.id.toString(), 'any-blob'), 'E_NOT_FOUND')
  await expectCode(resolveId(t.store, id.toString(), 'event'), 'E_NOT_FOUND')
})

Scope.run()
