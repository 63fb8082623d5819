import { readBlob, verifyBlob } from '../blobs.ts'
import { UsageError } from '../errors.ts'
import { exportBlobs } from '../export-dir.ts'
import { digestHex } from '../ids.ts'
import { resolveId } from '../resolve.ts'
import { withStore } from '../store.ts'
import { writeFileAtomically } from '../write-file.ts'
import { parseKind } from './kinds.ts'
import { interruptible, storeInit } from './context.ts'
import { progressReporter, write, writeJson } from './output.ts'
import type { Store } from '../store.ts'
import type { BlobKind } from '../types.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore get`. */
export interface GetOptions extends StoreCommandOptions {
  output?: string
  all?: string
}

/** `snapstore get KIND STORE ID [-o FILE]` or `get KIND STORE --all DIR`: writes blob bytes, verified against their ids. */
export async function get (kindText: string, path: string, idText: string | undefined, given: GetOptions): Promise<void> {
  // `-o -` is standard output, as the bytes go without -o.
  const { output, ...rest } = given
  const options: GetOptions = output === undefined || output === '-' ? rest : given
  const kind = parseKind(kindText)
  if (options.all !== undefined && (idText !== undefined || options.output !== undefined)) throw new UsageError('Cannot use --all with an ID or -o: --all writes every blob of the kind into DIR')
  if (options.all === undefined && idText === undefined) throw new UsageError('Cannot get: give an ID, or --all DIR for every blob of the kind')
  if (options.json === true && options.all === undefined && options.output === undefined) throw new UsageError('Cannot use --json when the bytes go to stdout: give -o FILE (or --all DIR)')
  // Interrupted, it removes the files it was writing before exiting.
  await interruptible(async (signal) => await withStore(path, storeInit(options), async (store) => {
    if (options.all !== undefined) await getAll(store, kind, options.all, options, signal)
    else await getOne(store, kind, idText!, options, signal)
  }))
}

async function getOne (store: Store, kind: BlobKind, idText: string, options: GetOptions, signal: AbortSignal): Promise<void> {
  const id = await resolveId(store, idText, kind)
  const progress = progressReporter(`getting ${id.toString().slice(0, 16)}…`)
  const bytes = readBlob(store, id, progress.onProgress === undefined ? { signal } : { signal, onProgress: progress.onProgress })
  try {
    if (options.output === undefined) {
      // Bytes on stdout cannot be taken back: check the whole blob before writing any of it.
      await verifyBlob(store, id, { signal })
      for await (const part of bytes) await write(part)
    } else {
      // A pipe or a device cannot be written atomically: as for stdout, the whole blob is checked first.
      await writeFileAtomically(options.output, bytes, async () => { await verifyBlob(store, id, { signal }) })
      if (options.json === true) await writeJson({ id, file: options.output, sha256: digestHex(id) })
    }
  } finally {
    progress.done()
  }
}

/** Writes every blob of the kind and a SHA256SUMS file into DIR; prints nothing (one object per file with --json). */
async function getAll (store: Store, kind: BlobKind, dir: string, options: GetOptions, signal: AbortSignal): Promise<void> {
  const progress = progressReporter(`writing ${kind}s into ${dir}`)
  try {
    const written = await exportBlobs(store, kind, dir, progress.onProgress === undefined ? { signal } : { signal, onProgress: progress.onProgress })
    progress.done()
    if (options.json === true) for (const { id, file } of written) await writeJson({ id, file, sha256: digestHex(id) })
  } finally {
    progress.done()
  }
}
