import { lstat, readdir, rm } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { processAlive } from './process-alive.ts'

/** Characters of a temporary name's random part (what mkdtemp and hex add). */
const RANDOM = '[A-Za-z0-9]+'

/**
 * The name of a temporary file or directory this process makes: `PREFIX-PID@HOST-`, then `ending` (a random
 * part, and an extension), so that `removeAbandoned` can tell whether its maker still runs.
 */
export function temporaryName (prefix: string, ending = ''): string {
  return `${prefix}-${process.pid}@${hostname()}-${ending}`
}

/**
 * Removes the entries of `dir` named by `temporaryName(prefix, …)` on this host whose process no longer
 * runs: temporary files a killed snapstore process could not remove itself. Only regular files and
 * directories this user owns are removed; those of running processes (this one among them), of other hosts
 * sharing the directory, and of other users stay.
 */
export async function removeAbandoned (dir: string, prefix: string, extension = ''): Promise<void> {
  const pattern = new RegExp(`^${escape(prefix)}-(\\d+)@${escape(hostname())}-${RANDOM}${escape(extension)}$`)
  const names = await readdir(dir).catch((): string[] => [])
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1])
    if (!(Number.isSafeInteger(pid) && pid > 0 && pid < 2 ** 31) || pid === process.pid || processAlive(pid)) continue
    const path = join(dir, name)
    const entry = await lstat(path).catch(() => undefined)
    if (entry === undefined || !(entry.isFile() || entry.isDirectory()) || entry.uid !== process.getuid?.()) continue
    await rm(path, { recursive: entry.isDirectory(), force: true }).catch(() => undefined)
  }
}

function escape (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}
