import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { readBlob, readBlobRecords } from './blobs.ts'
import { BadInputError, NotFoundError } from './errors.ts'
import { listBlobIdPages } from './query.ts'
import { SHA256SUMS_FILE, exportFileName, sha256sumLine } from './sha256sums.ts'
import { writeFileAtomically } from './write-file.ts'
import type { Store } from './store.ts'
import type { BlobKind, OperationOptions } from './types.ts'

const WRITES_AT_ONCE = 8
const BYTES_AT_ONCE = 32 * 1024 * 1024

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
  // Files are written a few at a time (each is synced before it is renamed into place, and those waits
  // overlap), with at most BYTES_AT_ONCE of blobs in flight: a larger blob is written alone.
  const inFlight = new Set<Promise<void>>()
  let bytesInFlight = 0
  let done = 0
  // The first failure, thrown once the writes in flight have ended.
  let failure: { error: unknown } | undefined
  try {
    for await (const { id, size } of listedWithSizes(store, kind, options)) {
      const file = join(dir, exportFileName(id))
      while (inFlight.size > 0 && (inFlight.size >= WRITES_AT_ONCE || bytesInFlight + size > BYTES_AT_ONCE)) await Promise.race(inFlight)
      if (failure !== undefined) break
      bytesInFlight += size
      const writing: Promise<void> = writeFileAtomically(file, readBlob(store, id, options)).then(
        () => { options.onProgress?.({ type: 'snapstore:export:blob', done: ++done }) },
        (error: unknown) => { failure ??= { error } }
      ).finally(() => {
        bytesInFlight -= size
        inFlight.delete(writing)
      })
      inFlight.add(writing)
      written.push({ id, file })
    }
  } finally {
    // Nothing is left reading the store or writing files when this returns or fails.
    await Promise.all(inFlight)
  }
  if (failure !== undefined) throw failure.error
  const sums = written.map(({ id }) => sha256sumLine(id) + '\n').join('')
  await writeFileAtomically(join(dir, SHA256SUMS_FILE), [new TextEncoder().encode(sums)])
  return written
}

/** The blobs of a kind in listing order, with their sizes: a page of ids at a time, its records read with one lookup. */
async function * listedWithSizes (store: Store, kind: BlobKind, options: OperationOptions): AsyncGenerator<{ id: CID, size: number }> {
  for await (const page of listBlobIdPages(store, kind, options)) {
    const ids = page.map((text) => CID.parse(text))
    const records = await readBlobRecords(store, ids)
    for (const [i, id] of ids.entries()) {
      const record = records[i]
      if (record === undefined) throw new NotFoundError(`Cannot find blob "${id.toString()}"`)
      yield { id, size: record.size }
    }
  }
}
