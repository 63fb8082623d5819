import { CommanderError } from 'commander'
import { isSnapstoreError } from '../errors.ts'
import { withCode } from '../system-errors.ts'

/** Prints an error as the contract's one line (`snapstore: E_CODE: message`) and returns the exit status. */
export function reportError (thrown: unknown): number {
  const err = withCode(thrown)
  if (err instanceof CommanderError) {
    const message = err.message.replace(/^error: /, '').replace(/\n[\s\S]*$/, '')
    process.stderr.write(`snapstore: E_USAGE: ${message} (see "snapstore --help")\n`)
    return 2
  }
  if (isSnapstoreError(err)) {
    process.stderr.write(`snapstore: ${err.code}: ${err.message.replace(/\n/g, ' ')}\n`)
    return err.code === 'E_USAGE' ? 2 : 1
  }
  const abort = err as { name?: string }
  if (abort?.name === 'AbortError') {
    process.stderr.write('snapstore: interrupted\n')
    return 130
  }
  process.stderr.write(`snapstore: internal error: ${(err as Error)?.stack ?? String(err)}\n`)
  return 1
}
