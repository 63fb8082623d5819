import { Encoder, addExtension } from 'cbor-x'
import { CID } from 'multiformats/cid'
import { CorruptError } from './errors.ts'

/** Name of the codec, as in the multicodec table. */
export const name = 'dag-cbor'
/** Multicodec code of dag-cbor. */
export const code = 0x71

const CID_TAG = 42
const MAX_UINT32 = 0xffffffff

// dag-cbor carries a CID as tag 42 around a byte string that starts with 0x00 (the identity multibase).
addExtension({
  Class: CID,
  tag: CID_TAG,
  encode (cid: CID, encodeNext: (value: unknown) => Uint8Array) {
    const bytes = new Uint8Array(cid.bytes.length + 1)
    bytes.set(cid.bytes, 1)
    return encodeNext(bytes)
  },
  decode (bytes: Uint8Array): CID {
    if (!(bytes instanceof Uint8Array) || bytes[0] !== 0) throw new TypeError('Cannot decode CID: tag 42 must wrap a byte string starting with 0x00')
    return CID.decode(bytes.subarray(1))
  }
})

// Settings under which cbor-x writes what @ipld/dag-cbor writes: no records, minimal map headers, bare byte strings.
// cbor-x's types do not list useTag259ForMaps; without it cbor-x tags Maps with 259, which dag-cbor refuses.
const encoderOptions = {
  useRecords: false,
  variableMapSize: true,
  tagUint8Array: false,
  mapsAsObjects: true,
  useTag259ForMaps: false,
  pack: false,
  structuredClone: false,
  useFloat32: 0
}
const encoder = new Encoder(encoderOptions as ConstructorParameters<typeof Encoder>[0])

/** Encodes a value as dag-cbor-compatible CBOR: sorted keys, minimal headers, CIDs as tag 42. */
export function encode (value: unknown): Uint8Array {
  return encoder.encode(canonical(value))
}

// cbor-x renames a "__proto__" key to "__proto_" when it decodes maps as objects; maps holding that key
// (rare) are decoded as Maps instead and turned into objects that keep it.
const mapDecoder = new Encoder({ ...encoderOptions, mapsAsObjects: false } as ConstructorParameters<typeof Encoder>[0])
const PROTO_KEY = Buffer.concat([Buffer.from([0x69]), Buffer.from('__proto__')])

/** Decodes bytes written by `encode` (or by `@ipld/dag-cbor`); malformed bytes raise `E_CORRUPT`. */
export function decode<T = unknown> (bytes: Uint8Array): T {
  let value: unknown
  try {
    value = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(PROTO_KEY) ? mapsToObjects(mapDecoder.decode(bytes)) : encoder.decode(bytes)
  } catch (err) {
    throw new CorruptError(`Cannot decode CBOR: ${(err as Error).message}`, { cause: err })
  }
  return fromWire(value) as T
}

/** Sort keys the dag-cbor way (shorter first, then bytewise), drop undefined, and widen integers cbor-x would write as floats. */
function canonical (value: unknown): unknown {
  if (typeof value === 'number') {
    // cbor-x writes integers past 32 bits as floats; dag-cbor wants the shortest integer encoding.
    if (Number.isSafeInteger(value) && (value > MAX_UINT32 || value < -MAX_UINT32 - 1)) return BigInt(value)
    if (Number.isNaN(value) || !Number.isFinite(value)) throw new TypeError(`Cannot encode ${value}: dag-cbor has no NaN or Infinity`)
    return value
  }
  if (value === null || typeof value !== 'object') {
    if (value === undefined) throw new TypeError('Cannot encode undefined: dag-cbor has no undefined')
    return value
  }
  if (value instanceof Uint8Array || value instanceof CID) return value
  if (Array.isArray(value)) return value.map(canonical)
  const asCID = CID.asCID(value)
  if (asCID !== null) return asCID
  const record = value as Record<string, unknown>
  const keys = sortedKeys(Object.keys(record).filter((k) => record[k] !== undefined))
  if (keys.some(needsMap)) {
    // A Map keeps the dag-cbor key order where a plain object would hoist integer-like keys ("10") or drop "__proto__".
    const out = new Map<string, unknown>()
    for (const key of keys) out.set(key, canonical(record[key]))
    return out
  }
  // A plain object keeps insertion order for every other key, and cbor-x encodes it faster than a Map.
  const out: Record<string, unknown> = {}
  for (const key of keys) out[key] = canonical(record[key])
  return out
}

// Events of one type share their key sets: remember each set's dag-cbor order instead of sorting every time.
const orderOfKeySet = new Map<string, string[]>()
const MAX_REMEMBERED_KEY_SETS = 1000

function sortedKeys (keys: string[]): string[] {
  // Length-prefixed keys tell every key list apart ({} from {"": …}, ["a\0b"] from ["a", "b"]), cheaper than JSON.
  let id = ''
  for (const key of keys) id += `${key.length}:${key}`
  const known = orderOfKeySet.get(id)
  if (known !== undefined) return known
  const sorted = keys.sort(compareKeys)
  if (orderOfKeySet.size < MAX_REMEMBERED_KEY_SETS) orderOfKeySet.set(id, sorted)
  return sorted
}

const ASCII = /^[\x00-\x7f]*$/
const ARRAY_INDEX = /^(0|[1-9]\d*)$/

function needsMap (key: string): boolean {
  return key === '__proto__' || (ARRAY_INDEX.test(key) && Number(key) < 2 ** 32 - 1)
}

function compareKeys (a: string, b: string): number {
  // For ASCII keys, string length and order are byte length and order: no buffers needed.
  if (ASCII.test(a) && ASCII.test(b)) return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0
  const ab = Buffer.byteLength(a)
  const bb = Buffer.byteLength(b)
  if (ab !== bb) return ab - bb
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}

/** Turn 64-bit integers that fit a double back into numbers. */
function fromWire (value: unknown): unknown {
  if (typeof value === 'bigint') {
    if (value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)) return Number(value)
    return value
  }
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof CID) return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = fromWire(value[i])
    return value
  }
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) record[key] = fromWire(record[key])
  return record
}

function mapsToObjects (value: unknown): unknown {
  if (value instanceof Map) {
    const out: Record<string, unknown> = {}
    for (const [key, item] of value) Object.defineProperty(out, String(key), { value: mapsToObjects(item), enumerable: true, writable: true, configurable: true })
    return out
  }
  if (Array.isArray(value)) return value.map(mapsToObjects)
  return value
}
