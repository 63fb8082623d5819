import * as dagCbor from '@ipld/dag-cbor'
import fc from 'fast-check'
import { CID } from 'multiformats/cid'
import * as assert from 'uvu/assert'
import { decode, encode } from '../src/codec.ts'
import { eventShapeProblem } from '../src/event-format.ts'
import { DAG_CBOR, RAW, cidFromDigest, cidStringBytes } from '../src/ids.ts'
import { expectCode, expectTypeError, specSuite } from './_helpers/store.ts'
import type { BlobKind, SnapEvent, Value } from '../src/types.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

/**
 * A comparable copy: plain Uint8Arrays (decode yields Buffers) and CIDs as strings, keeping bigint apart from
 * number, and maps as their entries sorted by key. Not as objects: uvu's deep equality compares the two sides'
 * `constructor` properties, and a generated map may hold "constructor" as a key of its own.
 */
function comparable (value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: hex(value) }
  const cid = CID.asCID(value)
  if (cid !== null) return { cid: cid.toString() }
  if (Array.isArray(value)) return value.map(comparable)
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]): [string, unknown] => [k, comparable(v)])
    return { map: entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) }
  }
  return value
}

// ---------------------------------------------------------------- arbitraries

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 })
const blobCid = digest.map((d) => cidFromDigest(RAW, d))
const eventCid = digest.map((d) => cidFromDigest(DAG_CBOR, d))
const text = fc.string({ unit: 'binary', maxLength: 12 })
const key = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 24 }),
  // Integer-like keys: JavaScript objects enumerate them first, whatever order they were set in.
  fc.nat({ max: 2000 }).map(String),
  // Keys that plain objects treat as their prototype, or inherit from it.
  fc.constantFrom('__proto__', 'constructor', 'toString')
)
const integer = fc.oneof(
  fc.integer(),
  fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: Number.MIN_SAFE_INTEGER, max: -(2 ** 32) }),
  fc.constantFrom(23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, -24, -25, -256, -257, -(2 ** 32), -(2 ** 32) - 1)
)
const float = fc.double({ noNaN: true, noDefaultInfinity: true })
const leaf: fc.Arbitrary<Value> = fc.oneof(
  fc.constant(null), fc.boolean(), integer, float, text, fc.uint8Array({ maxLength: 40 }), blobCid, eventCid
)
const { map } = fc.letrec<{ value: Value, list: Value[], map: Record<string, Value> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('list'), tie('map')),
  list: fc.array(tie('value'), { maxLength: 4 }),
  map: fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true })
}))
const stringMap = fc.dictionary(key, text, { minKeys: 1, maxKeys: 4, noNullPrototype: true })
const kind = fc.constantFrom<BlobKind>('snapshot', 'config', 'blob')
const hexDigest = digest.map(hex)

const body = {
  'blob.add': fc.record({ blob: blobCid, kind, size: fc.maxSafeNat(), name: text, meta: stringMap }, { requiredKeys: ['blob', 'kind', 'size'] }),
  'run.start': fc.record({
    from: blobCid,
    config: blobCid,
    params: map,
    seed: text,
    key: hexDigest,
    command: fc.array(text, { minLength: 1, maxLength: 4 }),
    label: text,
    continues: eventCid,
    trajectory: text,
    batch: text,
    previousBatch: fc.option(text)
  }, { requiredKeys: ['params', 'seed', 'key'] }),
  'run.checkpoint': fc.record({ run: eventCid, snapshot: blobCid, cycle: integer }, { requiredKeys: ['run', 'snapshot'] }),
  'run.end': fc.record({ run: eventCid, snapshot: blobCid, cycle: integer }, { requiredKeys: ['run', 'snapshot'] }),
  'run.fail': fc.record({ run: eventCid, reason: text, exitCode: fc.integer({ min: -255, max: 255 }), signal: text, lastCheckpoint: blobCid }, { requiredKeys: ['run', 'reason'] }),
  'tag.set': fc.record({ name: text.filter((s) => s !== ''), target: fc.oneof(blobCid, eventCid) })
}

const anyEvent: fc.Arbitrary<SnapEvent> = fc.record({
  type: fc.constantFrom(...(Object.keys(body) as Array<keyof typeof body>)),
  origin: fc.uint8Array({ minLength: 16, maxLength: 16 }).map(hex),
  seq: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: Number.MAX_SAFE_INTEGER })),
  prev: eventCid,
  clock: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  time: fc.integer({ min: 0, max: 2 ** 45 }),
  host: text
}).chain(({ type, seq, prev, ...header }) => body[type].map((b) => ({ v: 1, type, seq, prev: seq === 1 ? null : prev, ...header, body: b }) as SnapEvent))

const RUNS = { numRuns: 60 }

// ---------------------------------------------------------------- round trip

const RoundTrip = specSuite('codec round trip')

RoundTrip('decode of encode gives back an event with its CIDs, bytes and numbers', () => {
  const event = {
    v: 1,
    type: 'run.start',
    origin: '0123456789abcdef0123456789abcdef',
    seq: 2,
    prev: cidFromDigest(DAG_CBOR, new Uint8Array(32).fill(7)),
    clock: 5,
    time: 1_700_000_000_000,
    host: 'node-1',
    body: { params: { temperature: 300.5, steps: 5_000_000_000, offset: -70_000, tag: new Uint8Array([1, 2]), none: null }, seed: 's', key: 'ab'.repeat(32) }
  }
  const decoded = decode(encode(event))
  assert.equal(comparable(decoded), comparable(event))
  assert.ok(CID.asCID((decoded as { prev: unknown }).prev) !== null, 'prev decodes to a CID')
})

RoundTrip('every generated event survives encode and decode unchanged', () => {
  fc.assert(fc.property(anyEvent, (event) => {
    assert.is(eventShapeProblem(event), undefined, 'the generator makes well-formed events')
    assert.equal(comparable(decode(encode(event))), comparable(event))
  }), RUNS)
})

RoundTrip('a map value that is undefined is left out, as if the key were absent', () => {
  assert.is(hex(encode({ a: 1, b: undefined, c: 'x' })), hex(encode({ a: 1, c: 'x' })))
})

RoundTrip('the bytes projections store for an id are the UTF-8 of its string form, for blobs, events and CIDv0', () => {
  const utf8 = (cid: CID): string => Buffer.from(cidStringBytes(cid)).toString('utf8')
  fc.assert(fc.property(fc.oneof(blobCid, eventCid), (cid) => { assert.is(utf8(cid), cid.toString()) }), { numRuns: 300 })
  const v0 = CID.parse('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG')
  assert.is(utf8(v0), v0.toString())
  assert.is(utf8(CID.createV1(0x70, v0.multihash)), CID.createV1(0x70, v0.multihash).toString())
})

RoundTrip.run()

// ---------------------------------------------------------------- interop with @ipld/dag-cbor

const Interop = specSuite('codec interop with @ipld/dag-cbor')

Interop('@ipld/dag-cbor decodes our bytes and re-encodes them to identical bytes', () => {
  fc.assert(fc.property(anyEvent, (event) => {
    const ours = encode(event)
    assert.is(hex(dagCbor.encode(dagCbor.decode(ours))), hex(ours))
  }), RUNS)
})

Interop('our encoding of an event equals @ipld/dag-cbor encoding of it', () => {
  fc.assert(fc.property(anyEvent, (event) => {
    assert.is(hex(encode(event)), hex(dagCbor.encode(event)))
  }), RUNS)
})

Interop('we decode what @ipld/dag-cbor encodes', () => {
  fc.assert(fc.property(anyEvent, (event) => {
    assert.equal(comparable(decode(dagCbor.encode(event))), comparable(event))
  }), RUNS)
})

// One row per value whose encoding is easy to get wrong; each must match dag-cbor byte for byte and decode unchanged.
const EDGE_VALUES: Array<[string, unknown]> = [
  ['unicode keys of different byte lengths', { z: 1, é: 2, aa: 3, '日本': 4, a: 5 }],
  ['integer-like keys mixed with others', { 9: 'nine', a: 'a', 10: 'ten' }],
  ['2^32 - 1', 2 ** 32 - 1],
  ['2^32', 2 ** 32],
  ['-(2^32) + 1', -(2 ** 32) + 1],
  ['-(2^32)', -(2 ** 32)],
  ['-(2^32) - 1', -(2 ** 32) - 1],
  ['Number.MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER],
  ['Number.MIN_SAFE_INTEGER', Number.MIN_SAFE_INTEGER],
  ['2^53, an integral double beyond the safe range', 2 ** 53],
  ['6.022e23, an integral double', 6.022e23],
  ['-1e300', -1e300],
  ['1.5', 1.5],
  ['-0.1', -0.1],
  ['a byte string', new Uint8Array([0, 1, 255])],
  ['an empty map and list', { m: {}, l: [] }],
  ['a CID inside a list', [cidFromDigest(RAW, new Uint8Array(32).fill(1))]],
  ['strings of 23, 24, 255, 256 and 70,000 ASCII characters', ['a'.repeat(23), 'b'.repeat(24), 'c'.repeat(255), 'd'.repeat(256), 'e'.repeat(70_000)]],
  ['short and long strings with two-, three- and four-byte characters', ['é', 'ü'.repeat(30), '日本'.repeat(100), '🙂x', 'a🙂'.repeat(40)]],
  ['a Buffer', Buffer.from('buffer bytes')],
  ['a list of 30 items and a map of 30 keys', { list: Array.from({ length: 30 }, (_, i) => i * 1000), map: Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`key${i}`, i])) }],
  ['a byte string of 300 bytes', new Uint8Array(300).fill(9)]
]

for (const [name, edge] of EDGE_VALUES) {
  Interop(`encode of ${name} equals @ipld/dag-cbor bytes and decodes unchanged`, () => {
    assert.is(hex(encode(edge)), hex(dagCbor.encode(edge)))
    assert.equal(comparable(decode(encode(edge))), comparable(edge))
  })
}

Interop('encode keeps a "__proto__" key as the map entry it is', () => {
  const value = JSON.parse('{"__proto__": 1, "a": 2}') as unknown
  assert.is(hex(encode(value)), hex(dagCbor.encode(value)))
})

Interop('maps whose key lists join alike still keep their own keys', () => {
  for (const [a, b] of [[{}, { '': 1 }], [{ 'a\u0000b': 1 }, { a: 1, b: 2 }], [{ 'a\u0000b': 1, c: 2 }, { a: 1, 'b\u0000c': 2 }], [{ '1:a': 1 }, { 1: 1, a: 2 }]] as Array<[object, object]>) {
    assert.is(hex(encode(a)), hex(dagCbor.encode(a)))
    assert.is(hex(encode(b)), hex(dagCbor.encode(b)))
    assert.is(hex(encode(a)), hex(dagCbor.encode(a)), 'the first shape again, after the second was remembered')
  }
})

Interop('decode keeps a "__proto__" key, at any depth, and re-encodes to the same bytes', () => {
  const value = JSON.parse('{"a": [2, {"__proto__": {"__proto__": 3}}], "__proto__": 1}') as unknown
  const decoded = decode<Record<string, unknown>>(encode(value))
  assert.ok(Object.hasOwn(decoded, '__proto__'), 'the key is an own property')
  assert.equal(Object.keys(decoded).sort(), ['__proto__', 'a'])
  assert.is(hex(encode(decoded)), hex(dagCbor.encode(value)))
})

Interop('decode reads CBOR beyond what encode writes: half and single floats, indefinite lengths, integers past the safe range', () => {
  const cases: Array<[string, unknown]> = [
    ['f93e00', 1.5],
    ['fa3fc00000', 1.5],
    ['9f0102ff', [1, 2]],
    ['bf616101ff', { a: 1 }],
    ['1b0020000000000000', 2n ** 53n],
    ['3b0020000000000000', -(2n ** 53n) - 1n],
    ['1b001fffffffffffff', Number.MAX_SAFE_INTEGER],
    ['a2616101616102', { a: 2 }]
  ]
  for (const [bytes, expected] of cases) assert.equal(decode(Buffer.from(bytes, 'hex')), expected, bytes)
})

Interop.run()

// ---------------------------------------------------------------- refusals

const Refusals = specSuite('codec refusals')

const MALFORMED: Array<[string, string]> = [
  ['empty input', ''],
  ['a lone break code', 'ff'],
  ['a reserved additional-information value', '1c'],
  ['a map cut after its first key', 'a26161'],
  ['a text string cut short', '6568656c'],
  ['a 64-bit integer cut short', '1b0000'],
  ['trailing bytes after one item', '0101'],
  ['tag 42 around bytes without the 0x00 prefix', 'd82a4401020304'],
  ['tag 42 around an integer', 'd82a01']
]

for (const [name, bytes] of MALFORMED) {
  Refusals(`decode of ${name} fails with E_CORRUPT`, async () => {
    await expectCode((async () => decode(Buffer.from(bytes, 'hex')))(), 'E_CORRUPT')
  })
}

Refusals('decode of every truncation of an encoded event fails with E_CORRUPT', async () => {
  const bytes = encode({ v: 1, type: 'tag.set', origin: 'ab'.repeat(16), seq: 1, prev: null, clock: 1, time: 1, host: 'h', body: { name: 'best', target: cidFromDigest(RAW, new Uint8Array(32)) } })
  for (let length = 0; length < bytes.length; length++) {
    const err = await expectCode((async () => decode(bytes.subarray(0, length)))(), 'E_CORRUPT')
    assert.instance(err.cause, Error, `truncation to ${length} bytes keeps the cause`)
  }
})

const UNENCODABLE: Array<[string, unknown]> = [
  ['undefined', undefined],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['-Infinity', -Infinity],
  ['undefined inside a list', [1, undefined]],
  ['NaN inside a map', { params: { x: NaN } }]
]

for (const [name, bad] of UNENCODABLE) {
  Refusals(`encode refuses ${name} with a TypeError`, () => {
    expectTypeError(() => encode(bad))
  })
}

Refusals.run()
