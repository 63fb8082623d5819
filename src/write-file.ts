import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { realpath, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { removeAbandoned, temporaryName } from './abandoned.ts'
import { BadInputError } from './errors.ts'
import { describeSystemError } from './system-errors.ts'

/**
 * Writes bytes to a file so that it holds either its old content or all of the new: into a temporary file
 * beside it, renamed into place once every byte came through (a verifying source fails first). A symbolic
 * link is written through, not replaced; a target that is not a regular file (a pipe, a terminal, a device)
 * is written directly, as it cannot be renamed over, after `beforeDirectWrite` (which can check the bytes first).
 */
export async function writeFileAtomically (target: string, bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, beforeDirectWrite?: () => Promise<void>): Promise<void> {
  const existing = await stat(target).catch(() => undefined)
  if (existing?.isDirectory() === true) throw new BadInputError(`Cannot write "${target}": it is a directory`)
  if (existing !== undefined && !existing.isFile()) {
    await beforeDirectWrite?.()
    await pipeline(Readable.from(bytes), createWriteStream(target)).catch((err: unknown) => { throw writeError(target, err) })
    return
  }
  // The link itself stays: its target gets the new content.
  const file = existing === undefined ? target : await realpath(target)
  const temporary = await temporaryBeside(file)
  try {
    await pipeline(Readable.from(bytes), createWriteStream(temporary, { flush: true }))
    await rename(temporary, file)
  } catch (err) {
    await rm(temporary, { force: true }).catch(() => undefined)
    throw writeError(target, err)
  }
}

/**
 * A new temporary path beside `file`, for its next content to be written to and renamed into place; those
 * that snapstore processes killed while writing `file` left beside it are removed first.
 */
export async function temporaryBeside (file: string): Promise<string> {
  // A long name is stood for by its digest, so that the temporary name stays within the file system's limit.
  const name = basename(file)
  const prefix = `.${Buffer.byteLength(name) <= 100 ? name : createHash('sha256').update(name).digest('hex').slice(0, 16)}.snapstore`
  await removeAbandoned(dirname(file), prefix, '.tmp')
  return join(dirname(file), temporaryName(prefix, `${randomBytes(4).toString('hex')}.tmp`))
}

/** A failure to write `target` as `E_BAD_INPUT` in plain words; errors that are not the file system's pass unchanged. */
function writeError (target: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code
  if (typeof code !== 'string' || typeof (err as NodeJS.ErrnoException).errno !== 'number') return err
  return new BadInputError(`Cannot write "${target}": ${describeSystemError(code)}`, { cause: err })
}
