import { createWriteStream } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Readable } from 'node:stream'
import { readBlob, verifyBlob } from '../blobs.ts'
import { BadInputError } from '../errors.ts'
import { resolveId } from '../resolve.ts'
import { withStore } from '../store.ts'
import { parseKind } from './kinds.ts'
import { storeInit } from './context.ts'
import { progressReporter, write } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore get`. */
export interface GetOptions extends StoreCommandOptions {
  output?: string
}

/** `snapstore get KIND STORE ID [-o FILE]`: writes a blob's bytes, verified against its id. */
export async function get (kindText: string, path: string, idText: string, options: GetOptions): Promise<void> {
  const kind = parseKind(kindText)
  await withStore(path, storeInit(options), async (store) => {
    const id = await resolveId(store, idText, kind)
    const progress = progressReporter(`getting ${id.toString().slice(0, 16)}…`)
    const bytes = readBlob(store, id, progress.onProgress === undefined ? {} : { onProgress: progress.onProgress })
    try {
      if (options.output === undefined) {
        // Bytes on stdout cannot be taken back: check the whole blob before writing any of it.
        await verifyBlob(store, id)
        for await (const part of bytes) await write(part)
      } else {
        await writeFileAtomically(options.output, bytes)
      }
    } finally {
      progress.done()
    }
  })
}

/** Writes to a temporary file beside `target` and renames it into place only when every byte verified. */
async function writeFileAtomically (target: string, bytes: AsyncIterable<Uint8Array>): Promise<void> {
  const existing = await stat(target).catch(() => undefined)
  if (existing?.isDirectory() === true) throw new BadInputError(`Cannot write "${target}": it is a directory`)
  const temporary = join(dirname(target), `.${basename(target)}.snapstore-${process.pid}.tmp`)
  try {
    await pipeline(Readable.from(bytes), createWriteStream(temporary, { flush: true }))
    await rename(temporary, target)
  } catch (err) {
    await rm(temporary, { force: true })
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR' || code === 'ENOTDIR') throw new BadInputError(`Cannot write "${target}": ${(err as Error).message}`, { cause: err })
    throw err
  }
}
