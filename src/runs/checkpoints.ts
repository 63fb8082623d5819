import { watch } from 'node:fs'
import { readdir } from 'node:fs/promises'
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

/**
 * Watches a directory into which a simulation moves checkpoint files whole, handing each new file to
 * `store` once, in name order, one at a time. `stop` waits for every file seen so far to be stored.
 */
export function watchCheckpoints (dir: string, store: (file: CheckpointFile) => Promise<void>, onError: (err: unknown) => void): { stop: () => Promise<void> } {
  const seen = new Set<string>()
  let queue: Promise<void> = Promise.resolve()
  let scanning: Promise<void> | undefined
  const scan = async (): Promise<void> => {
    const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => !name.startsWith('.')).sort()
    for (const name of names) {
      if (seen.has(name)) continue
      seen.add(name)
      const file: CheckpointFile = { name, path: join(dir, name) }
      const cycle = cycleOf(name)
      if (cycle !== undefined) file.cycle = cycle
      queue = queue.then(async () => { await store(file) }).catch(onError)
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
