import { watch } from 'node:fs'
import { link, lstat, mkdir, readdir, rm } from 'node:fs/promises'
import type { FSWatcher } from 'node:fs'
import { dirname, join } from 'node:path'

/** A checkpoint file seen in the checkpoint directory, with the cycle its name carries. */
export interface CheckpointFile {
  name: string
  /** Where to read it: a link to it made when it was first seen, or the file itself where links cannot be made. */
  path: string
  cycle?: number
}

/** The cycle a checkpoint's name carries: the last number in it before its extensions ("ckpt-0042.dcd" → 42, "ckpt_12.h5" → 12). */
export function cycleOf (name: string): number | undefined {
  const stem = name.replace(/(\.[A-Za-z][A-Za-z0-9]*)+$/, '')
  const numbers = stem.match(/\d+/g)
  return numbers === null ? undefined : Number(numbers[numbers.length - 1])
}

// Names that editors and simulation codes give files still being written, before they rename them.
const WORK_IN_PROGRESS = /(\.tmp|\.temp|\.part|\.partial|\.swp|~)$/i

/** True for a name the watcher skips: hidden, or one a file has only while it is being written. */
function isWorkInProgress (name: string): boolean {
  return name.startsWith('.') || WORK_IN_PROGRESS.test(name)
}

// Names in the order a person reads them: "ckpt_9" before "ckpt_12".
const byNumbers = new Intl.Collator('en', { numeric: true }).compare

/** Milliseconds from a change seen in the checkpoint directory to the scan that finds it. */
const SETTLE_MS = 100

/**
 * Watches a directory into which a simulation moves checkpoint files whole, handing each new file to
 * `store` once, one at a time, those moved in within SETTLE_MS of the first in the order of the numbers in their names. A file is
 * new when its name holds a file not seen under that name before, so a name reused for each checkpoint
 * (renamed onto) gives a checkpoint each time. Each file is linked into `stagingDir` as soon as it is
 * seen, so it is stored even when the simulation removes or replaces it before its turn; entries that
 * are not regular files (subdirectories, symbolic links) are skipped. `stop` waits for every file seen so far to be stored.
 */
export function watchCheckpoints (dir: string, stagingDir: string, store: (file: CheckpointFile) => Promise<void>, onError: (err: unknown) => void): { stop: () => Promise<void> } {
  // The file last seen under each name; a name is looked at again only when the watcher reports it.
  const known = new Map<string, string>()
  const changed = new Set<string>()
  let unnamedChange = false
  let staged = 0
  let queue: Promise<void> = Promise.resolve()
  let scanning: Promise<void> | undefined
  /**
   * Stores one file seen, from its link; when CMD removed the link (with its directory), from the file
   * itself if it is still the same. A linked file that cannot be stored keeps its link, for the user.
   */
  const storeSeen = async (name: string, file: Taken, identity: string): Promise<void> => {
    const here = join(dir, name)
    const cycle = cycleOf(name)
    for (;;) {
      if (file.staged && !await exists(file.path)) {
        const now = await lstat(here).catch(() => undefined)
        if (now === undefined || identityOf(now) !== identity) return
        file.staged = false
        file.path = here
      }
      try {
        await store(cycle === undefined ? { name, path: file.path } : { name, path: file.path, cycle })
        break
      } catch (err) {
        if (file.staged && !await exists(file.path)) continue
        // Not linked, and renamed or removed before it could be stored: not a checkpoint under this name.
        if (file.staged || await exists(file.path)) throw err
        if (known.get(name) === identity) known.delete(name)
        return
      }
    }
    if (file.staged) await rm(file.path, { force: true })
  }
  const scan = async (everything: boolean): Promise<void> => {
    const recheck = new Set(changed)
    changed.clear()
    const all = everything || unnamedChange
    unnamedChange = false
    const names = (await readdir(dir).catch(() => [] as string[])).filter((name) => !isWorkInProgress(name)).sort(byNumbers)
    for (const name of names) {
      if (known.has(name) && !all && !recheck.has(name)) continue
      const current = await lstat(join(dir, name)).catch(() => undefined)
      if (current === undefined || !current.isFile() || known.get(name) === identityOf(current)) continue
      const file = await take(dir, name, join(stagingDir, `${++staged}-${name}`))
      if (file === undefined) continue
      const identity = identityOf(file)
      if (known.get(name) === identity) {
        if (file.staged) await rm(file.path, { force: true })
        continue
      }
      known.set(name, identity)
      queue = queue.then(async () => { await storeSeen(name, file, identity) }).catch(onError)
    }
  }
  // A change seen while a scan runs is scanned for as soon as that scan ends, not at the next poll.
  let again = false
  const trigger = (): void => {
    if (scanning !== undefined) {
      again = true
      return
    }
    scanning = scan(false).catch(onError).finally(() => {
      scanning = undefined
      if (again) {
        again = false
        trigger()
      }
    })
  }
  // A change is scanned for SETTLE_MS after it is seen, with every change seen meanwhile: files moved in
  // together are found by one scan, and so stored in the order of their numbers.
  let settling: NodeJS.Timeout | undefined
  const watcher = watchIfPossible(dir, (filename) => {
    if (filename === null) unnamedChange = true
    else changed.add(filename)
    settling ??= setTimeout(() => {
      settling = undefined
      trigger()
    }, SETTLE_MS)
  }, onError)
  // fs.watch can miss events on some file systems (NFS, some container mounts): a slow poll finds new
  // names there (a name renamed onto is then seen at the end, when every name is looked at once more).
  const poll = setInterval(() => { if (settling === undefined) trigger() }, 500)
  return {
    stop: async () => {
      clearInterval(poll)
      clearTimeout(settling)
      watcher?.close()
      while (scanning !== undefined) await scanning
      await scan(true).catch(onError)
      await queue
    }
  }
}

/** True when something is at `path` (a file, or a link to none). */
async function exists (path: string): Promise<boolean> {
  return await lstat(path).then(() => true, () => false)
}

/**
 * What tells the files a name held apart: a name reused for a new file holds another inode, or the same
 * one born again. Where the file system keeps no birth time, the inode alone (writes to a file in place
 * must not make it new).
 */
function identityOf (file: { ino: number, birthtimeMs: number }): string {
  return `${file.ino}:${file.birthtimeMs}`
}

/** Watches `dir`, reporting the name of each change (null when the system does not say); undefined where watching is impossible (the poll still runs). */
function watchIfPossible (dir: string, onChange: (filename: string | null) => void, onError: (err: unknown) => void): FSWatcher | undefined {
  try {
    const watcher = watch(dir, (_event, filename) => { onChange(filename === null ? null : filename.toString()) })
    watcher.on('error', onError)
    return watcher
  } catch {
    // Out of inotify watches, for example: the poll finds new files on its own.
    return undefined
  }
}

/** A file taken for storing: where to read it, and whether that is a link the watcher made. */
interface Taken {
  path: string
  staged: boolean
  ino: number
  birthtimeMs: number
}

/** The regular file at `dir/name` (not a link to one), linked to `stagedPath` when the file system allows; undefined when it is gone or not a file. */
async function take (dir: string, name: string, stagedPath: string): Promise<Taken | undefined> {
  const path = join(dir, name)
  const linked = await link(path, stagedPath).then(() => true, async (err: NodeJS.ErrnoException) => {
    // The staging directory itself gone (CMD tidied the job directory): made again, once.
    if (err.code === 'ENOENT') return await mkdir(dirname(stagedPath), { recursive: true }).then(async () => await link(path, stagedPath)).then(() => true, () => false)
    return false
  })
  // The link names exactly the file it was made from, whatever has since been renamed onto `name`.
  const info = linked ? await lstat(stagedPath).catch(() => undefined) : undefined
  if (info === undefined) {
    // No link here (the file gone, another file system, no permission, no space), or the link gone with its
    // directory: the file is read where it is, if it is there.
    const here = await lstat(path).catch(() => undefined)
    return here?.isFile() === true ? { path, staged: false, ino: here.ino, birthtimeMs: here.birthtimeMs } : undefined
  }
  if (!info.isFile()) {
    await rm(stagedPath, { force: true })
    return undefined
  }
  return { path: stagedPath, staged: true, ino: info.ino, birthtimeMs: info.birthtimeMs }
}
