import { BadInputError, CorruptError, SnapstoreError } from './errors.ts'

const DESCRIPTIONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EEXIST: 'it already exists',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many levels of symbolic links',
  EFBIG: 'the file is too large'
}

/** How LevelDB says that the disk is full: no damage, and nothing to repair once there is room. */
export const OUT_OF_SPACE = /no space left on device|disk quota exceeded/i

/** The plain words for a file-system error code (`ENOSPC` → "no space left on the device"), or the code itself. */
export function describeSystemError (code: string): string {
  return DESCRIPTIONS[code] ?? code
}

/** True for an error from a file-system call, which carries an errno code. */
export function isSystemError (err: unknown): err is NodeJS.ErrnoException & { code: string } {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' && typeof (err as NodeJS.ErrnoException).errno === 'number'
}

/** The LevelDB error code of an error or of its cause (`LEVEL_CORRUPTION`, `LEVEL_IO_ERROR`, …), if any. */
export function levelErrorCode (err: unknown): string | undefined {
  for (let e = err as { code?: unknown, cause?: unknown } | undefined, depth = 0; e !== undefined && e !== null && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && e.code.startsWith('LEVEL_')) return e.code
  }
  return undefined
}

/**
 * Gives errors that escape snapstore's own checks a code and one plain line: a file system refusing a read
 * or write (a full disk, a missing directory, a permission) is `E_BAD_INPUT` naming the path, a damaged
 * LevelDB database is `E_CORRUPT`. Anything else (a snapstore error, a bug) is returned unchanged.
 */
export function withCode (err: unknown): unknown {
  if (err instanceof SnapstoreError) return err
  const level = levelErrorCode(err)
  if (level === 'LEVEL_IO_ERROR' && OUT_OF_SPACE.test(firstLine(err))) {
    return new BadInputError(`Cannot write to the store's database: ${describeSystemError(/quota/i.test(firstLine(err)) ? 'EDQUOT' : 'ENOSPC')}`, { cause: err })
  }
  if (level === 'LEVEL_CORRUPTION' || level === 'LEVEL_IO_ERROR') {
    return new CorruptError(`The store's database is damaged (${firstLine(err)}); "snapstore verify" tells what else is, and merging the stores that still verify into a fresh one brings the history back`, { cause: err })
  }
  if (isSystemError(err)) {
    const path = err.path === undefined ? '' : ` "${err.path}"`
    const action = err.syscall === undefined ? 'use' : err.syscall
    return new BadInputError(`Cannot ${action}${path}: ${describeSystemError(err.code)}`, { cause: err })
  }
  return err
}

function firstLine (err: unknown): string {
  const cause = (err as { cause?: unknown }).cause
  const message = cause instanceof Error ? cause.message : (err as Error).message
  return String(message).split('\n')[0]!
}
