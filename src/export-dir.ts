import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { readBlob } from './blobs.ts'
import { BadInputError } from './errors.ts'
import { listBlobIds } from './query.ts'
import { SHA256SUMS_FILE, exportFileName, sha256sumLine } from './sha256sums.ts'
import { writeFileAtomically } from './write-file.ts'
import type { Store } from './store.ts'
import type { BlobKind, OperationOptions } from './types.ts'

/** One blob written into a directory. */
export interface ExportedBlob {
  id: CID
  file: string
}

/**
 * Writes every blob of a kind into `dir` (created when absent), each file named by its id, verified as it
 * is read and renamed into place whole, then a `SHA256SUMS` file that `sha256sum -c` checks them with.
 * @example
 * await exportBlobs(store, 'snapshot', './snapshots')   // then: cd snapshots && sha256sum -c SHA256SUMS
 */
export async function exportBlobs (store: Store, kind: BlobKind, dir: string, options: OperationOptions = {}): Promise<ExportedBlob[]> {
  const info = await stat(dir).catch(() => undefined)
  if (info !== undefined && !info.isDirectory()) throw new BadInputError(`Cannot export into "${dir}": it is a file, not a directory`)
  await mkdir(dir, { recursive: true })
  const written: ExportedBlob[] = []
  for await (const text of listBlobIds(store, kind, options)) {
    const id = CID.parse(text)
    const file = join(dir, exportFileName(id))
    await writeFileAtomically(file, readBlob(store, id, options))
    written.push({ id, file })
    options.onProgress?.({ type: 'snapstore:export:blob', done: written.length })
  }
  const sums = written.map(({ id }) => sha256sumLine(id) + '\n').join('')
  await writeFileAtomically(join(dir, SHA256SUMS_FILE), [new TextEncoder().encode(sums)])
  return written
}
