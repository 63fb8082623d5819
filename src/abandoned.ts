import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { processAlive } from './process-alive.ts'

/**
 * Removes the entries of `dir` whose names `pattern` matches with, as its first group, the pid of a process
 * that no longer runs: temporary files a killed snapstore process could not remove itself. Those of running
 * processes, this one among them, stay.
 */
export async function removeAbandoned (dir: string, pattern: RegExp): Promise<void> {
  const names = await readdir(dir).catch((): string[] => [])
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1])
    if (Number.isSafeInteger(pid) && pid !== process.pid && !processAlive(pid)) await rm(join(dir, name), { recursive: true, force: true }).catch(() => undefined)
  }
}
