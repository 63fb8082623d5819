import { CorruptError } from './errors.ts'
import { digestHex } from './ids.ts'
import type { CID } from 'multiformats/cid'

/** The error for a chunk whose bytes do not hash to its digest. */
export function chunkMismatch (id: CID, index: number, expected: Uint8Array, computed: Uint8Array): CorruptError {
  const [want, got] = [Buffer.from(expected).toString('hex'), Buffer.from(computed).toString('hex')]
  return new CorruptError(`Cannot read blob "${id.toString()}": chunk ${index} digest mismatch: expected ${want}, computed ${got}`,
    { details: { blob: id.toString(), chunk: index, expected: want, computed: got } })
}

/** The error for a chunk the store cannot give (absent, or its pack unreadable). */
export function chunkUnreadable (id: CID, index: number, hex: string, cause?: Error): CorruptError {
  return cause === undefined
    ? new CorruptError(`Cannot read blob "${id.toString()}": chunk ${index} (${hex}) is missing`)
    : new CorruptError(`Cannot read blob "${id.toString()}": chunk ${index}: ${cause.message}`, { cause })
}

/** Throws `E_CORRUPT` unless the whole content hashed to the blob's id and had the recorded size. */
export function checkWhole (id: CID, computed: Uint8Array, size: number, expectedSize: number): void {
  const expected = digestHex(id)
  const got = Buffer.from(computed).toString('hex')
  if (got !== expected || size !== expectedSize) {
    throw new CorruptError(`Cannot read blob "${id.toString()}": digest mismatch: expected ${expected}, computed ${got}`,
      { details: { blob: id.toString(), expected, computed: got } })
  }
}
