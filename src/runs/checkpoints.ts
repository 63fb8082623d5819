import { watch } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

/** A checkpoint file seen in the checkpoint directory, with the cycle its name carries. */
export interface CheckpointFile {
  name: string
  path: string
  cycle?: number
}

/** The cycle a checkpoint's name carries: the last number in it ("ckpt-0042.dcd" → 42). */
function cycleOf (name: string): number | undefined {
  const numbers = name.match(/\d+/g)
  return numbers === null ? undefined : Number(numbers[numbers.length - 1])
}

// Names that editors and simulation codes give files still being written, before they rename them.
const WORK_IN_PROGRESS = /(\.tmp|\.temp|\.part|\.partial|\.swp|~)$/i

/** True for a name the watcher skips: hidden, or one a file has only while it is being written. */
function isWorkInProgress (name: string): boolean {
  return name.startsWith('.') || WORK_IN_PROGRESS.test(name)
}

/**
 * Watches a directory into which a simulation moves checkpoint files whole, handing each new file to
 * `store` once, in name order, one at a time. `stop` waits for every file seen so far to be stored.
 * A file that is gone before it is stored (written under one name, then renamed) is skipped: its new
 * name is seen in turn.
 */
export function watchCheckpoints (dir: string, store: (file: CheckpointFile) => Promise<void>, onError: (err: unknown) => void): { stop: () => Promise<void> } {
  const seen = new Set<string>()
  let queue: Promise<void> = Promise.resolve()
  let scanning: Promise<void> | undefined
  const scan = async (): Promise<void> => {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => !isWorkInProgress(name)).sort()
    for (const name of names) {
      if (seen.has(name)) continue
      seen.add(name)
      const file: CheckpointFile = { name, path: join(dir, name) }
      const cycle = cycleOf(name)
      if (cycle !== undefined) file.cycle = cycle
      queue = queue.then(async () => {
        try {
          await store(file)
        } catch (err) {
          if (await stat(file.path).catch(() => undefined) !== undefined) throw err
          // Renamed or removed before it could be stored: not a checkpoint under this name.
          seen.delete(name)
        }
      }).catch(onError)
    }
  }
  const trigger = (): void => {
    scanning ??= scan().finally(() => { scanning = undefined })
  }
  const watcher = watch(dir, trigger)
  watcher.on('error', onError)
  // fs.watch can miss events on some file systems (NFS, some container mounts); a slow poll covers them.
  const poll = setInterval(trigger, 500)
  return {
    stop: async () => {
      clearInterval(poll)
      watcher.close()
      await scanning
      await scan()
      await queue
    }
  }
}
