import { decode } from './codec.ts'
import { AmbiguousError, BadInputError, NotFoundError } from './errors.ts'
import { DAG_CBOR, RAW, cidFromHex, digestHex, tryParseCid } from './ids.ts'
import { prefixEnd } from './keys.ts'
import { aliasRange, isMd5 } from './projections/aliases.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecordProjection } from './projections/blobs.ts'
import type { TagProjection } from './projections/tags.ts'
import type { Store } from './store.ts'
import type { BlobKind } from './types.ts'

/** What an id given by the user may name: a blob of one kind, any blob, any event, or anything. */
export type IdScope = BlobKind | 'any-blob' | 'event' | 'any'

/** The shortest prefix (of a CID or of a hex digest) accepted. */
export const MIN_PREFIX = 8

const MAX_CANDIDATES = 10
const HEX = /^[0-9a-f]+$/
const BASE32 = /^b[a-z2-7]+$/

/**
 * Resolves what a user typed to one stored id: a full CID, a tag name, a unique CID prefix
 * or a unique hex digest prefix (at least 8 characters), or the wepy MD5 a blob was imported with.
 * Tags win over prefixes so that adding data never changes what a tag name means. An MD5 alias stands
 * with the prefixes: 32 hex characters that also begin another blob's sha-256 are `E_AMBIGUOUS`.
 */
export async function resolveId (store: Store, text: string, scope: IdScope = 'any'): Promise<CID> {
  const full = tryParseCid(text)
  if (full !== undefined) {
    if (await inScope(store, full, scope)) return full
    throw new NotFoundError(`Cannot find ${describeScope(scope)} "${text}"`)
  }
  const tag = await store.sub.tags.get(text)
  if (tag !== undefined) {
    const { target } = decode<TagProjection>(tag)
    if (await inScope(store, target, scope)) return target
    throw new NotFoundError(`Cannot find ${describeScope(scope)} "${text}": the tag points at ${target.toString()}`)
  }
  if (text.length < MIN_PREFIX) {
    throw new BadInputError(`Cannot resolve "${text}": no tag has that name, and an id prefix needs at least ${MIN_PREFIX} characters`)
  }
  const lower = text.toLowerCase()
  const found = new Map<string, CID>()
  if (HEX.test(lower)) for (const cid of await matchDigests(store, { gte: lower, lt: prefixEnd(lower) }, scope, () => true)) found.set(cid.toString(), cid)
  if (isMd5(lower)) for (const cid of await matchAliases(store, lower, scope)) found.set(cid.toString(), cid)
  if (BASE32.test(text)) {
    const range = digestRangeOfCidPrefix(text)
    if (range !== undefined) {
      for (const cid of await matchDigests(store, range, scope, (c) => c.toString().startsWith(text))) found.set(cid.toString(), cid)
    }
  }
  const candidates = [...found.values()]
  if (candidates.length === 1) return candidates[0]!
  if (candidates.length === 0) throw new NotFoundError(`Cannot find ${describeScope(scope)} "${text}"`)
  const names = candidates.slice(0, MAX_CANDIDATES).map(String)
  throw new AmbiguousError(`Cannot resolve "${text}": it matches ${candidates.length > MAX_CANDIDATES ? `more than ${MAX_CANDIDATES}` : candidates.length} ids: ${names.join(', ')}`,
    { details: { candidates: names } })
}

async function matchDigests (store: Store, range: { gte: string, lt: string }, scope: IdScope, accept: (cid: CID) => boolean): Promise<CID[]> {
  const out: CID[] = []
  if (scope !== 'event') {
    for await (const key of store.sub.blob.keys(range)) {
      const cid = cidFromHex(RAW, key)
      if (accept(cid) && await inScope(store, cid, scope)) out.push(cid)
      if (out.length > MAX_CANDIDATES) return out
    }
  }
  if (scope === 'event' || scope === 'any') {
    for await (const key of store.sub.eventId.keys(range)) {
      const cid = cidFromHex(DAG_CBOR, key)
      if (accept(cid)) out.push(cid)
      if (out.length > MAX_CANDIDATES) return out
    }
  }
  return out
}

async function matchAliases (store: Store, md5: string, scope: IdScope): Promise<CID[]> {
  const out: CID[] = []
  if (scope === 'event') return out
  for await (const key of store.sub.aliases.keys(aliasRange(md5))) {
    const cid = cidFromHex(RAW, key.slice(key.lastIndexOf(':') + 1))
    if (await inScope(store, cid, scope)) out.push(cid)
  }
  return out
}

/** The range of hex digests that a base32 CID prefix allows, when it covers the whole CID header. */
function digestRangeOfCidPrefix (text: string): { gte: string, lt: string } | undefined {
  const { bytes, rest, restBits } = decodeBase32Prefix(text.slice(1))
  // CIDv1 header: version 1, codec (0x55 or 0x71), sha2-256 (0x12), length 32 (0x20).
  if (bytes.length < 4 || bytes[0] !== 1 || (bytes[1] !== RAW && bytes[1] !== DAG_CBOR) || bytes[2] !== 0x12 || bytes[3] !== 0x20) return undefined
  const prefix = Buffer.from(bytes.subarray(4)).toString('hex')
  // The bits of a last, partial character fix the top bits of the next digest byte.
  const low = rest << (8 - restBits)
  const high = (rest + 1) << (8 - restBits)
  return {
    gte: prefix + (restBits === 0 ? '' : low.toString(16).padStart(2, '0')),
    lt: restBits === 0 || high > 0xff ? prefixEnd(prefix) : prefix + high.toString(16).padStart(2, '0')
  }
}

function decodeBase32Prefix (text: string): { bytes: Uint8Array, rest: number, restBits: number } {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
  const out: number[] = []
  let bits = 0
  let value = 0
  for (const char of text) {
    value = ((value << 5) | alphabet.indexOf(char)) & 0xffff
    bits += 5
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return { bytes: Uint8Array.from(out), rest: value & ((1 << bits) - 1), restBits: bits }
}

async function inScope (store: Store, cid: CID, scope: IdScope): Promise<boolean> {
  const hex = digestHex(cid)
  if (cid.code === DAG_CBOR) return (scope === 'event' || scope === 'any') && await store.sub.eventId.has(hex)
  if (cid.code !== RAW || scope === 'event') return false
  if (scope === 'any' || scope === 'any-blob') return await store.sub.blob.has(hex)
  const projection = await store.sub.blobs.get(hex)
  return projection !== undefined && decode<BlobRecordProjection>(projection).kinds[scope] !== undefined
}

function describeScope (scope: IdScope): string {
  switch (scope) {
    case 'any': return 'id'
    case 'any-blob': return 'blob'
    case 'event': return 'event'
    default: return scope
  }
}

