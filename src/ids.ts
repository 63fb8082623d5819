import { createHash, hash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { Digest, create as createDigest } from 'multiformats/hashes/digest'
import { BadInputError } from './errors.ts'
import type { Pieces } from './pieces.ts'

/** Multicodec code of raw bytes: the codec of blob ids. */
export const RAW = 0x55
/** Multicodec code of dag-cbor: the codec of event ids. */
export const DAG_CBOR = 0x71
/** Multihash code of sha2-256. */
export const SHA2_256 = 0x12

/** The hex sha-256 digest of `bytes`, given whole or as the pieces they arrived in. */
export function sha256Hex (bytes: Uint8Array | Pieces): string {
  const sha = createHash('sha256')
  for (const piece of bytes instanceof Uint8Array ? [bytes] : bytes) sha.update(piece)
  return sha.digest('hex')
}

/** The CIDv1 for a sha-256 digest given in hex, with the given codec. */
export function cidFromHex (codec: number, hex: string): CID {
  return CID.createV1(codec, createDigest(SHA2_256, Buffer.from(hex, 'hex')))
}

/** The CIDv1 for a raw 32-byte sha-256 digest, with the given codec. */
export function cidFromDigest (codec: number, digest: Uint8Array): CID {
  if (codec >= 0x80 || digest.length !== 32) return CID.createV1(codec, createDigest(SHA2_256, digest))
  const bytes = cidPrefix(codec)
  bytes.set(digest, 4)
  return sha256Cid(codec, bytes)
}

/** A CID's 36 bytes with its version, codec and multihash header written: codec, sha2-256 and its length each fit one varint byte. */
function cidPrefix (codec: number): Uint8Array {
  const bytes = new Uint8Array(36)
  bytes[0] = 1
  bytes[1] = codec
  bytes[2] = SHA2_256
  bytes[3] = 32
  return bytes
}

function sha256Cid (codec: number, bytes: Uint8Array): CID {
  return new CID(1, codec, new Digest(SHA2_256, 32, bytes.subarray(4), bytes.subarray(2)), bytes)
}

/**
 * The id of an event: CIDv1, dag-cbor, sha2-256 of its stored bytes. The digest comes back as a 'binary'
 * (latin1) string, one character per byte: unlike a Buffer, it needs no memory of its own outside the
 * JavaScript heap (1.2–1.6 µs an id the Buffer way, 0.4 µs this way).
 */
export function eventId (bytes: Uint8Array): CID {
  const cid = cidPrefix(DAG_CBOR)
  sha256Into(bytes, cid, 4)
  return sha256Cid(DAG_CBOR, cid)
}

/** Writes the sha-256 digest of `bytes` into `target` at `offset`, by way of a 'binary' string as `eventId` does. */
export function sha256Into (bytes: Uint8Array, target: Uint8Array, offset: number): void {
  const digest = hash('sha256', bytes, 'binary')
  for (let i = 0; i < 32; i++) target[offset + i] = digest.charCodeAt(i)
}

// The two hex digits of each byte value, as character codes.
const HEX_DIGITS = new TextEncoder().encode(Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0')).join(''))
let hexScratch = Buffer.allocUnsafeSlow(64)

/**
 * The hex sha-256 digest inside a CID. Written into one reused buffer and read out as latin1: a Buffer over
 * the digest and its 'hex' conversion cost 0.5–1.2 µs a call, this 0.3 µs (several calls an event).
 */
export function digestHex (cid: CID): string {
  return hexOfDigest(cid.multihash.digest)
}

/** A digest's bytes in hex, the way `digestHex` writes them. */
export function hexOfDigest (digest: Uint8Array): string {
  const length = digest.length * 2
  if (hexScratch.length < length) hexScratch = Buffer.allocUnsafeSlow(length)
  for (let i = 0; i < digest.length; i++) {
    const at = digest[i]! * 2
    hexScratch[2 * i] = HEX_DIGITS[at]!
    hexScratch[2 * i + 1] = HEX_DIGITS[at + 1]!
  }
  return hexScratch.toString('latin1', 0, length)
}

const BASE32 = new TextEncoder().encode('abcdefghijklmnopqrstuvwxyz234567')
const utf8 = new TextEncoder()

/**
 * The UTF-8 bytes of `cid.toString()`, as projections store it. A CIDv1's string is 'b' and its bytes in
 * lowercase base32 without padding, written here straight into bytes: multiformats builds the string a
 * character at a time, which cost a `blob.add` about 1.7 KB of garbage.
 */
export function cidStringBytes (cid: CID): Uint8Array {
  if (cid.version !== 1) return utf8.encode(cid.toString())
  const { bytes } = cid
  // From Node's shared pool: a view of memory the database can read in place, not one it must first move off the heap.
  const out = Buffer.allocUnsafe(1 + Math.ceil(bytes.length * 8 / 5))
  out[0] = 0x62
  let j = 1
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    // Only the lowest `bits` bits of `buffer` are pending; higher ones may fall off the 32-bit shift.
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      bits -= 5
      out[j++] = BASE32[(buffer >>> bits) & 31]!
    }
  }
  if (bits > 0) out[j] = BASE32[(buffer << (5 - bits)) & 31]!
  return out
}

/** True for a CIDv1 with a sha2-256 multihash of the given codec. */
export function isSha256Cid (cid: CID, codec: number): boolean {
  return cid.version === 1 && cid.code === codec && cid.multihash.code === SHA2_256 && cid.multihash.digest.length === 32
}

/** Parses a full CID string, or returns undefined when `text` is not one. */
export function tryParseCid (text: string): CID | undefined {
  try {
    return CID.parse(text)
  } catch {
    return undefined
  }
}

/** Parses a CID given by the user, raising `E_BAD_INPUT` when it is not one of snapstore's ids. */
export function parseCid (text: string): CID {
  const cid = tryParseCid(text)
  if (cid === undefined || !(isSha256Cid(cid, RAW) || isSha256Cid(cid, DAG_CBOR))) {
    throw new BadInputError(`Cannot parse id "${text}": expected a CIDv1 with a sha2-256 digest`)
  }
  return cid
}

/** A new random origin id: 128 bits in lowercase hex. */
export function newOrigin (): string {
  return crypto.getRandomValues(new Uint8Array(16)).reduce((hex, byte) => hex + byte.toString(16).padStart(2, '0'), '')
}
