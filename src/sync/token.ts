import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { BadInputError, NotFoundError } from '../errors.ts'
import { describeSystemError } from '../system-errors.ts'

/** A shared secret held as its sha-256, so every comparison is of two 32-byte digests. */
export interface TokenCheck {
  /** True when an `Authorization` header carries the token; the comparison takes the same time whatever it holds. */
  accepts: (authorization: string | undefined) => boolean
}

/** A check for `Authorization: Bearer TOKEN`. */
export function bearerCheck (token: string): TokenCheck {
  const expected = digest(token)
  return {
    accepts: (authorization) => {
      // The scheme's name is case-insensitive (RFC 9110).
      const match = /^Bearer +(.+)$/i.exec(authorization ?? '')
      // Hashing both sides makes them equal in length, so timingSafeEqual neither throws nor leaks the length.
      const given = digest(match?.[1] ?? '')
      return timingSafeEqual(given, expected) && match !== null
    }
  }
}

function digest (text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/** Reads a token from a file: its content without surrounding whitespace, which must not be empty or hold line breaks. */
export async function readTokenFile (path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotFoundError(`Cannot read token file "${path}": no such file`, { cause: err })
    throw new BadInputError(`Cannot read token file "${path}": ${describeSystemError(err.code ?? '')}`, { cause: err })
  })
  return checkToken(text.trim(), `token file "${path}"`)
}

/** Checks a token given directly (from the environment): not empty, printable, one line. */
export function checkToken (token: string, where: string): string {
  if (token === '') throw new BadInputError(`Cannot use the ${where}: it is empty`)
  if (!/^[\x21-\x7e]+$/.test(token)) throw new BadInputError(`Cannot use the ${where}: a token is one word of printable ASCII characters`)
  return token
}
