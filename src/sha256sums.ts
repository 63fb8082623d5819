import { digestHex } from './ids.ts'
import type { CID } from 'multiformats/cid'

/** The name of the checksum file that `get --all` writes beside the blobs. */
export const SHA256SUMS_FILE = 'SHA256SUMS'

/** The file name a blob gets when exported into a directory: its id, so the name alone finds it again. */
export function exportFileName (id: CID): string {
  return id.toString()
}

/** One `sha256sum -c` line for an exported blob: the sha-256 inside its id, two spaces, its file name. */
export function sha256sumLine (id: CID): string {
  return `${digestHex(id)}  ${exportFileName(id)}`
}
