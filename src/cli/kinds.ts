import { BLOB_KINDS } from '../event-format.ts'
import { UsageError } from '../errors.ts'
import type { BlobKind } from '../types.ts'

/** Checks a kind given on the command line. */
export function parseKind (text: string): BlobKind {
  if ((BLOB_KINDS as readonly string[]).includes(text)) return text as BlobKind
  throw new UsageError(`Unknown kind "${text}": expected one of ${BLOB_KINDS.join(', ')}`)
}
