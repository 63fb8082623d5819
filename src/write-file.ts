import { createWriteStream } from 'node:fs'
import { rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { BadInputError } from './errors.ts'

/**
 * Writes bytes to a temporary file beside `target` and renames it into place only once every byte came
 * through (a verifying source fails first), so `target` holds either its old content or all of the new.
 */
export async function writeFileAtomically (target: string, bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
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
