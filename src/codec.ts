import { createRequire } from 'node:module'
import { CID } from 'multiformats/cid'
import { Digest } from 'multiformats/hashes/digest'
import { CorruptError } from './errors.ts'
import type { Encoder } from 'cbor-x'

/** Name of the codec, as in the multicodec table. */
export const name = 'dag-cbor'
/** Multicodec code of dag-cbor. */
export const code = 0x71

const CID_TAG = 42
const MAX_UINT32 = 0xffffffff

// cbor-x is needed only for values the direct writer and reader below leave to it, which events and
// projections never are: it is loaded on first use, so commands that only read listings never load it.
interface CborX { encoder: Encoder, mapDecoder: Encoder }
let cborX: CborX | undefined

function loadCborX (): CborX {
  if (cborX !== undefined) return cborX
  const { Encoder, addExtension } = createRequire(import.meta.url)('cbor-x') as typeof import('cbor-x')
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
  const options = {
    useRecords: false,
    variableMapSize: true,
    tagUint8Array: false,
    mapsAsObjects: true,
    useTag259ForMaps: false,
    pack: false,
    structuredClone: false,
    useFloat32: 0
  }
  cborX = {
    encoder: new Encoder(options as ConstructorParameters<typeof Encoder>[0]),
    // cbor-x renames a "__proto__" key to "__proto_" when it decodes maps as objects; maps holding that key
    // (rare) are decoded as Maps instead and turned into objects that keep it.
    mapDecoder: new Encoder({ ...options, mapsAsObjects: false } as ConstructorParameters<typeof Encoder>[0])
  }
  return cborX
}

/** Encodes a value as dag-cbor-compatible CBOR: sorted keys, minimal headers, CIDs as tag 42. */
export function encode (value: unknown): Uint8Array {
  return writeDirect(value) ?? loadCborX().encoder.encode(canonical(value))
}

const PROTO_KEY = Buffer.concat([Buffer.from([0x69]), Buffer.from('__proto__')])

/** Decodes bytes written by `encode` (or by `@ipld/dag-cbor`); malformed bytes raise `E_CORRUPT`. */
export function decode<T = unknown> (bytes: Uint8Array): T {
  const direct = readDirect(bytes)
  if (direct !== GIVE_UP) return direct as T
  let value: unknown
  try {
    const { encoder, mapDecoder } = loadCborX()
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

// ---------------------------------------------------------------- direct writer
// Events and projection records hold plain objects, arrays, strings, safe integers, CIDs and bytes: these are
// written straight into one reused buffer, with the same bytes as the cbor-x path above at a fraction of its
// cost (no canonical copy of the value, no generic dispatch). Anything else (a Map, a bigint, a string that is
// not well-formed UTF-16, a class instance) makes the writer give up, and the value goes the cbor-x way.

const FLOAT = new DataView(new ArrayBuffer(8))
const GIVE_UP = Symbol('give up')
let out = Buffer.allocUnsafe(64 * 1024)
let at = 0

function writeDirect (value: unknown): Uint8Array | undefined {
  at = 0
  try {
    writeValue(value)
  } catch (err) {
    if (err === GIVE_UP) return undefined
    throw err
  }
  return Buffer.from(out.subarray(0, at))
}

function room (bytes: number): void {
  if (at + bytes <= out.length) return
  const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, at + bytes))
  bigger.set(out.subarray(0, at))
  out = bigger
}

/** A CBOR head: major type and argument, in the shortest form. */
function writeHead (major: number, n: number): void {
  room(9)
  const m = major << 5
  if (n < 24) {
    out[at++] = m | n
  } else if (n < 0x100) {
    out[at++] = m | 24
    out[at++] = n
  } else if (n < 0x10000) {
    out[at++] = m | 25
    out[at++] = n >>> 8
    out[at++] = n & 0xff
  } else if (n <= MAX_UINT32) {
    out[at++] = m | 26
    out[at++] = n >>> 24
    out[at++] = (n >>> 16) & 0xff
    out[at++] = (n >>> 8) & 0xff
    out[at++] = n & 0xff
  } else {
    const high = Math.floor(n / 0x100000000)
    const low = n >>> 0
    out[at++] = m | 27
    out[at++] = high >>> 24
    out[at++] = (high >>> 16) & 0xff
    out[at++] = (high >>> 8) & 0xff
    out[at++] = high & 0xff
    out[at++] = low >>> 24
    out[at++] = (low >>> 16) & 0xff
    out[at++] = (low >>> 8) & 0xff
    out[at++] = low & 0xff
  }
}

function writeString (text: string): void {
  const length = text.length
  // ASCII under 256 characters, the usual case (keys, origins, hex digests, names), is copied byte by byte.
  if (length < 0x100) {
    room(2 + length)
    const start = at
    if (length < 24) {
      out[at++] = 0x60 | length
    } else {
      out[at++] = 0x78
      out[at++] = length
    }
    for (let i = 0; i < length; i++) {
      const c = text.charCodeAt(i)
      if (c >= 0x80) {
        at = start
        writeUtf8(text)
        return
      }
      out[at++] = c
    }
    return
  }
  writeUtf8(text)
}

// String.prototype.isWellFormed is in Node 20, not yet in the ES library this project compiles against.
type WellFormedCheck = string & { isWellFormed: () => boolean }

function writeUtf8 (text: string): void {
  // cbor-x writes unpaired surrogates its own way; leave such strings to it.
  if (!(text as WellFormedCheck).isWellFormed()) throw GIVE_UP
  const bytes = Buffer.byteLength(text)
  writeHead(3, bytes)
  room(bytes)
  at += out.write(text, at, bytes, 'utf8')
}

function writeBytes (bytes: Uint8Array, lead = false): void {
  writeHead(2, bytes.length + (lead ? 1 : 0))
  room(bytes.length + 1)
  if (lead) out[at++] = 0
  out.set(bytes, at)
  at += bytes.length
}

function writeNumber (n: number): void {
  if (Number.isSafeInteger(n)) {
    if (n >= 0) writeHead(0, n)
    else writeHead(1, -1 - n)
    return
  }
  if (Number.isNaN(n) || !Number.isFinite(n)) throw new TypeError(`Cannot encode ${n}: dag-cbor has no NaN or Infinity`)
  room(9)
  out[at++] = 0xfb
  FLOAT.setFloat64(0, n)
  for (let i = 0; i < 8; i++) out[at++] = FLOAT.getUint8(i)
}

function writeValue (value: unknown): void {
  switch (typeof value) {
    case 'string': writeString(value); return
    case 'number': writeNumber(value); return
    case 'boolean': room(1); out[at++] = value ? 0xf5 : 0xf4; return
    case 'undefined': throw new TypeError('Cannot encode undefined: dag-cbor has no undefined')
    case 'object': break
    default: throw GIVE_UP
  }
  if (value === null) {
    room(1)
    out[at++] = 0xf6
    return
  }
  if (value instanceof Uint8Array) {
    writeBytes(value)
    return
  }
  if (Array.isArray(value)) {
    writeHead(4, value.length)
    for (const item of value) writeValue(item)
    return
  }
  if (value instanceof CID) {
    writeCid(value)
    return
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) {
    // A CID of another copy of multiformats, known by CID.asCID; any other class instance goes the cbor-x way.
    const cid = CID.asCID(value)
    if (cid === null) throw GIVE_UP
    writeCid(cid)
    return
  }
  const keys = Object.keys(value)
  // Values in the order of the keys, read at once: reading each by its key is a slow lookup on records of many shapes.
  const values = Object.values(value)
  const order = orderOf(keys)
  if (order.cidLike) {
    const cid = CID.asCID(value)
    if (cid !== null) {
      writeCid(cid)
      return
    }
  }
  let count = 0
  for (const item of values) if (item !== undefined) count++
  writeHead(5, count)
  for (const i of order.indices) {
    const item = values[i]
    if (item === undefined) continue
    writeString(keys[i]!)
    writeValue(item)
  }
}

function writeCid (cid: CID): void {
  room(2)
  out[at++] = 0xd8
  out[at++] = CID_TAG
  writeBytes(cid.bytes, true)
}

/** Where each key of a list goes in dag-cbor order, and whether the list has the fields CID.asCID looks for. */
interface KeyOrder {
  indices: number[]
  cidLike: boolean
}

// Key lists seen before, by their first key: comparing a list with the few remembered under its first key
// costs less than building a string to look it up by (records of one kind share their key lists).
const orderByFirstKey = new Map<string, Array<{ keys: string[], order: KeyOrder }>>()
let rememberedLists = 0
const NO_KEYS: KeyOrder = { indices: [], cidLike: false }

function orderOf (keys: string[]): KeyOrder {
  if (keys.length === 0) return NO_KEYS
  const known = orderByFirstKey.get(keys[0]!)
  if (known !== undefined) {
    for (const entry of known) if (sameKeys(entry.keys, keys)) return entry.order
  }
  const indices = keys.map((_, i) => i).sort((a, b) => compareKeys(keys[a]!, keys[b]!))
  const order = { indices, cidLike: keys.includes('/') || keys.includes('asCID') }
  if (rememberedLists < MAX_REMEMBERED_KEY_SETS) {
    rememberedLists++
    if (known === undefined) orderByFirstKey.set(keys[0]!, [{ keys, order }])
    else known.push({ keys, order })
  }
  return order
}

function sameKeys (a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

// ---------------------------------------------------------------- direct reader
// The mirror of the direct writer: definite-length maps with text keys, arrays, integers within the safe
// range, doubles, well-formed UTF-8 text, byte strings and tag-42 CIDs are read straight from the bytes,
// giving what the cbor-x path gives (byte strings and CIDs as views into `bytes`). Anything else, including
// every malformed or truncated input, is left to cbor-x, which decides what it means or why it is corrupt.

const SHA2_256 = 0x12
const strictUtf8 = new TextDecoder('utf-8', { fatal: true })
let input: Uint8Array = new Uint8Array(0)
let pos = 0

function readDirect (bytes: Uint8Array): unknown {
  input = bytes
  pos = 0
  try {
    const value = readValue()
    return pos === bytes.length ? value : GIVE_UP
  } catch {
    // Malformed text, a CID multiformats refuses, bytes cut short: cbor-x decides what each means.
    return GIVE_UP
  } finally {
    input = new Uint8Array(0)
  }
}

function readByte (): number {
  if (pos >= input.length) throw GIVE_UP
  return input[pos++]!
}

/** The argument of a head whose first byte was `first`. */
function readArgument (first: number): number {
  const info = first & 0x1f
  if (info < 24) return info
  if (info === 24) return readByte()
  if (info === 25) return readByte() * 0x100 + readByte()
  if (info === 26) return ((readByte() * 0x100 + readByte()) * 0x100 + readByte()) * 0x100 + readByte()
  if (info === 27) {
    const high = ((readByte() * 0x100 + readByte()) * 0x100 + readByte()) * 0x100 + readByte()
    const low = ((readByte() * 0x100 + readByte()) * 0x100 + readByte()) * 0x100 + readByte()
    // Beyond the safe range cbor-x gives a bigint.
    if (high >= 0x200000) throw GIVE_UP
    return high * 0x100000000 + low
  }
  throw GIVE_UP
}

function take (length: number): Uint8Array {
  if (pos + length > input.length) throw GIVE_UP
  const view = input.subarray(pos, pos + length)
  pos += length
  return view
}

function readText (length: number): string {
  if (pos + length > input.length) throw GIVE_UP
  let text = ''
  if (length < 32) {
    for (let i = pos; i < pos + length; i++) {
      const c = input[i]!
      if (c >= 0x80) {
        text = strictUtf8.decode(input.subarray(pos, pos + length))
        break
      }
      text += String.fromCharCode(c)
    }
  } else {
    text = strictUtf8.decode(input.subarray(pos, pos + length))
  }
  pos += length
  return text
}

// Map keys seen before, by a hash of their bytes: records of one kind repeat the same few keys, and a key
// read as a new string must be looked up in V8's string table each time it names a property.
const KEY_SLOTS = 1024
const knownKeys: Array<string | undefined> = new Array<string | undefined>(KEY_SLOTS).fill(undefined)

function readKey (length: number): string {
  if (length > 24 || pos + length > input.length) return readText(length)
  let hash = length
  for (let i = pos; i < pos + length; i++) hash = (Math.imul(hash, 31) + input[i]!) | 0
  const slot = hash & (KEY_SLOTS - 1)
  const known = knownKeys[slot]
  if (known !== undefined && sameText(known, pos, length)) {
    pos += length
    return known
  }
  const key = readText(length)
  // A key that names a property is the string table's own copy: later reads return that copy.
  knownKeys[slot] = Object.keys({ [key]: 0 })[0]!
  return key
}

/** True when the `length` bytes of the input at `from` are the ASCII of `text`. */
function sameText (text: string, from: number, length: number): boolean {
  if (text.length !== length) return false
  for (let i = 0; i < length; i++) if (text.charCodeAt(i) !== input[from + i]) return false
  return true
}

function readValue (): unknown {
  const first = readByte()
  switch (first >> 5) {
    case 0: return readArgument(first)
    case 1: return -1 - readArgument(first)
    case 2: return take(readArgument(first))
    case 3: return readText(readArgument(first))
    case 4: {
      const length = readArgument(first)
      if (length > input.length - pos) throw GIVE_UP
      const list: unknown[] = []
      for (let i = 0; i < length; i++) list.push(readValue())
      return list
    }
    case 5: {
      const length = readArgument(first)
      if (length > input.length - pos) throw GIVE_UP
      const record: Record<string, unknown> = {}
      for (let i = 0; i < length; i++) {
        const head = readByte()
        if (head >> 5 !== 3) throw GIVE_UP
        const key = readKey(readArgument(head))
        // cbor-x renames this key; the Map path in decode keeps it.
        if (key === '__proto__') throw GIVE_UP
        record[key] = readValue()
      }
      return record
    }
    case 6: {
      if (first !== 0xd8 || readByte() !== CID_TAG) throw GIVE_UP
      const head = readByte()
      if (head >> 5 !== 2) throw GIVE_UP
      return readCid(take(readArgument(head)))
    }
    default:
      if (first === 0xf4) return false
      if (first === 0xf5) return true
      if (first === 0xf6) return null
      if (first === 0xfb) {
        const bytes = take(8)
        return new DataView(bytes.buffer, bytes.byteOffset, 8).getFloat64(0)
      }
      throw GIVE_UP
  }
}

function readCid (bytes: Uint8Array): CID {
  if (bytes[0] !== 0) throw GIVE_UP
  // A CIDv1 with a sha2-256 digest, as every id of snapstore is, is built without re-encoding its parts.
  if (bytes.length === 37 && bytes[1] === 1 && bytes[2]! < 0x80 && bytes[3] === SHA2_256 && bytes[4] === 32) {
    // Plain views: a Buffer's subarray costs a Buffer object each.
    const view = (from: number): Uint8Array => new Uint8Array(bytes.buffer, bytes.byteOffset + from, 37 - from)
    return new CID(1, bytes[2]!, new Digest(SHA2_256, 32, view(5), view(3)), view(1))
  }
  return CID.decode(bytes.subarray(1))
}
