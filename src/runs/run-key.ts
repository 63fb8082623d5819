import { createHash } from 'node:crypto'
import { encode } from '../codec.ts'
import type { CID } from 'multiformats/cid'
import type { Value } from '../types.ts'

/** What makes two runs compute the same thing. */
export interface RunKeyParts {
  from?: CID
  config?: CID
  params: Record<string, Value>
  seed?: string
  command: string[]
}

/** The seed a run gets when none is given: derived from the rest of its key, so a rerun is reproducible. */
export function deriveSeed (parts: RunKeyParts): string {
  const { seed: _seed, ...rest } = parts
  return String(parseInt(sha256OfCanonical({ ...rest, purpose: 'seed' }).slice(0, 8), 16))
}

/** The run key: sha-256 of the canonical dag-cbor encoding of (start snapshot, config, params, seed, command). */
export function runKey (parts: RunKeyParts & { seed: string }): string {
  return sha256OfCanonical({ from: parts.from ?? null, config: parts.config ?? null, params: parts.params, seed: parts.seed, command: parts.command })
}

function sha256OfCanonical (value: unknown): string {
  return createHash('sha256').update(encode(value)).digest('hex')
}
