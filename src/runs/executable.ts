import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import { delimiter, join } from 'node:path'
import { BadInputError } from '../errors.ts'

/** Fails with `E_BAD_INPUT` unless `command` names an executable file, directly or through PATH. */
export async function checkExecutable (command: string): Promise<void> {
  const candidates = command.includes('/') ? [command] : (process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, command))
  for (const candidate of candidates) {
    const info = await stat(candidate).catch(() => undefined)
    if (info?.isFile() !== true) continue
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return
    if (command.includes('/')) throw new BadInputError(`Cannot run "${command}": it is not executable (chmod +x it)`)
  }
  throw new BadInputError(`Cannot run "${command}": no such command${command.includes('/') ? '' : ' on PATH'}`)
}
