import { cidStringBytes, digestHex } from '../ids.ts'
import type { Op } from '../ops.ts'
import type { SnapEvent } from '../types.ts'

/** The `blob.add` metadata key that records the wepy MD5 of a blob's bytes; the blob answers to it as an id. */
export const WEPY_MD5_META = 'wepy.md5'

const MD5 = /^[0-9a-f]{32}$/

const ALIAS_PREFIX = 'md5:'

/** True when text has the shape of an MD5 hex digest (32 lowercase hex characters). */
export function isMd5 (text: string): boolean {
  return MD5.test(text)
}

/** The key range of every blob recorded with this MD5 alias. */
export function aliasRange (md5: string): { gte: string, lt: string } {
  return { gte: `${ALIAS_PREFIX}${md5}:`, lt: `${ALIAS_PREFIX}${md5};` }
}

/** The key of one blob's MD5 alias. */
export function aliasKey (md5: string, digest: string): string {
  return `${ALIAS_PREFIX}${md5}:${digest}`
}

/**
 * The alias index entry a `blob.add` causes: MD5 → blob id, when its metadata records a wepy MD5.
 * A set of entries keyed by both sides, so any delivery order of the same events gives the same index.
 */
export function aliasOps (event: Extract<SnapEvent, { type: 'blob.add' }>): Op[] {
  const md5 = event.body.meta?.[WEPY_MD5_META]
  if (md5 === undefined || !isMd5(md5)) return []
  return [{ type: 'put', sublevel: 'aliases', key: aliasKey(md5, digestHex(event.body.blob)), value: cidStringBytes(event.body.blob) }]
}
