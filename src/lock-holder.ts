import { readFile, stat } from 'node:fs/promises'

/** A process holding a store: its pid, and how messages name it ("process 123 (snapstore serve …)"). */
export interface LockHolder {
  pid: number
  description: string
}

/** The process holding a LevelDB LOCK file, where the OS tells; undefined otherwise. */
export async function findLockHolder (lockFile: string): Promise<LockHolder | undefined> {
  try {
    const { ino } = await stat(lockFile)
    const locks = await readFile('/proc/locks', 'utf8')
    for (const line of locks.split('\n')) {
      const fields = line.trim().split(/\s+/)
      // e.g. "1: POSIX  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF"
      const device = fields[5]
      if (device === undefined || device.split(':')[2] !== String(ino)) continue
      const pid = fields[4]
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
      const command = cmdline.split('\0').filter(Boolean).join(' ').slice(0, 120)
      return { pid: Number(pid), description: command === '' ? `process ${pid}` : `process ${pid} (${command})` }
    }
  } catch {
    // Not Linux, or /proc is hidden: the message goes without a name.
  }
  return undefined
}
