import { mkdir, open, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { BadInputError, CorruptError } from '../errors.ts'
import { piecesLength } from '../pieces.ts'
import { describeSystemError, isSystemError } from '../system-errors.ts'
import type { FileHandle } from 'node:fs/promises'
import type { Pieces } from '../pieces.ts'

/** Where a chunk's bytes lie: pack number, offset of the first byte, and length. */
export interface ChunkLocation {
  pack: number
  offset: number
  size: number
}

/** The first bytes of every pack file: a magic string and the pack format version (1). */
const HEADER = Buffer.from('SNAPPACK\x00\x00\x00\x01', 'latin1')
/** Before each chunk's bytes: their length (u32, big-endian) and sha-256 digest, so a pack describes itself. */
const RECORD_HEADER = 4 + 32
/** A pack is closed for appends once it holds this much; the next append starts a new one. */
const PACK_LIMIT = 1024 * 1024 * 1024
/**
 * Appended bytes after which the pack is flushed to disk in the background, so a sync before a batch that
 * names them has little left to do: a merge of 8,000 small snapshots waited 0.4 s in those syncs with
 * 256 MiB here and 0.1 s with 8 MiB; ingesting a 1 GiB file is as fast with either.
 */
const BACKGROUND_SYNC_BYTES = 8 * 1024 * 1024
/**
 * Writes every byte of `pieces` at `at`. A write can take fewer bytes than it was given (a disk that fills
 * up on the way): the rest is written again, and that write fails with the reason (`ENOSPC`, `EFBIG`).
 */
async function writeAll (handle: FileHandle, pieces: readonly Uint8Array[], at: number): Promise<void> {
  let rest = pieces
  let position = at
  for (;;) {
    const { bytesWritten } = await handle.writev([...rest], position)
    let skip = bytesWritten
    position += bytesWritten
    while (rest.length > 0 && skip >= rest[0]!.length) {
      skip -= rest[0]!.length
      rest = rest.slice(1)
    }
    if (rest.length === 0) return
    if (skip > 0) rest = [rest[0]!.subarray(skip), ...rest.slice(1)]
    // A write that takes nothing and reports nothing would repeat forever.
    if (bytesWritten === 0) throw Object.assign(new Error('the write took no bytes'), { code: 'ENOSPC', errno: -28, syscall: 'write' })
  }
}

/** The file name of a pack: its number, zero-padded to six digits or more. */
const PACK_NAME = /^\d{6,}\.pack$/

interface OpenPack {
  number: number
  handle: FileHandle
  size: number
}

/** Where the packs end: the newest pack's number (0 when there is none) and its size in bytes. */
export interface PacksEnd {
  pack: number
  size: number
}

/**
 * The append-only pack files of a store (STORE/packs/NNNNNN.pack), where chunk bytes live. The LevelDB
 * database is the one source of truth for what exists: bytes in a pack that it does not name (left by a
 * killed writer) are never read. Appends happen only while the store's database is held, so one process
 * writes at a time.
 */
export class Packs {
  readonly dir: string
  readonly #readers = new Map<number, Promise<FileHandle>>()
  #writer: Promise<OpenPack> | undefined
  readonly #writes = new Set<Promise<void>>()
  #failure: unknown
  #unsynced = false
  #sinceSync = 0
  #dirSync = false
  #retired: FileHandle[] = []
  #lastRetired = 0
  #syncing: Promise<void> = Promise.resolve()
  #syncsRunning = 0

  constructor (storePath: string) {
    this.dir = join(storePath, 'packs')
  }

  /**
   * Appends chunks one after another, with one write per pack they go to rather than one per chunk (each
   * write is a request to a worker thread, and waking one costs about as much as hashing 32 KiB), and
   * returns where each lies, with a promise settled once all are written (not yet synced).
   */
  async appendAll (chunks: ReadonlyArray<{ digest: Uint8Array, bytes: Pieces }>): Promise<{ locations: ChunkLocation[], written: Promise<void> }> {
    if (chunks.length === 0) return { locations: [], written: Promise.resolve() }
    const headers = Buffer.alloc(RECORD_HEADER * chunks.length)
    const locations: ChunkLocation[] = []
    const writes: Array<Promise<void>> = []
    let pack = await this.#packWithRoom()
    let pieces: Uint8Array[] = []
    let from = pack.size
    for (const [i, { digest, bytes }] of chunks.entries()) {
      if (pack.size >= PACK_LIMIT) {
        writes.push(this.#write(pack, pieces, from))
        pack = await this.#packWithRoom()
        pieces = []
        from = pack.size
      }
      const length = piecesLength(bytes)
      const header = headers.subarray(RECORD_HEADER * i, RECORD_HEADER * (i + 1))
      header.writeUInt32BE(length, 0)
      header.set(digest, 4)
      pieces.push(header, ...bytes)
      locations.push({ pack: pack.number, offset: pack.size + RECORD_HEADER, size: length })
      // Reserved at once, so appends in flight together never overlap.
      pack.size += RECORD_HEADER + length
    }
    if (pieces.length > 0) writes.push(this.#write(pack, pieces, from))
    const written = writes.length === 1 ? writes[0]! : Promise.all(writes).then(() => undefined)
    return { locations, written }
  }

  /** The pack appends go to: the current one, or its successor once it holds PACK_LIMIT bytes. */
  async #packWithRoom (): Promise<OpenPack> {
    let pack = await this.#currentPack()
    // Appends in flight together may all find the same pack full: the first starts the next, the others wait for it.
    while (pack.size >= PACK_LIMIT) {
      if (pack.number > this.#lastRetired) {
        this.#lastRetired = pack.number
        this.#retired.push(pack.handle)
        this.#writer = this.#startPack(pack.number + 1)
      }
      pack = await this.#writer!
    }
    return pack
  }

  /** Writes `pieces` to `pack` at `at` (bytes reserved by the caller), flushing to disk in the background every BACKGROUND_SYNC_BYTES. */
  #write (pack: OpenPack, pieces: Uint8Array[], at: number): Promise<void> {
    const length = piecesLength(pieces)
    this.#unsynced = true
    // The store's disk refusing bytes (full, over a quota or a size limit) is said of the packs, not of what was being stored.
    const written = writeAll(pack.handle, pieces, at).catch((err: unknown) => {
      throw isSystemError(err) ? new BadInputError(`Cannot write to the packs in ${this.dir}: ${describeSystemError(err.code)}`, { cause: err }) : err
    })
    this.#track(written)
    this.#sinceSync += length
    if (this.#sinceSync >= BACKGROUND_SYNC_BYTES) {
      this.#sinceSync = 0
      this.#track(written.then(async () => { await pack.handle.datasync() }))
    }
    return written
  }

  /** True while `sync` has something to wait for: an append not yet on disk, or a sync still running. */
  get unsynced (): boolean {
    return this.#unsynced || this.#syncsRunning > 0
  }

  /** Waits for every append so far to reach the disk; called before a batch that names appended bytes is written. */
  async sync (): Promise<void> {
    this.#syncsRunning++
    const run = this.#syncing.then(async () => { await this.#syncNow() })
    this.#syncing = run.catch(() => undefined)
    try {
      await run
    } finally {
      this.#syncsRunning--
    }
  }

  async #syncNow (): Promise<void> {
    if (!this.#unsynced) return
    this.#unsynced = false
    // Everything that holds the appends so far, taken at once: every write to a pack is issued before the
    // pack is retired, so once these writes (and the flushes tracked with them) are done, the packs retired
    // so far have nothing in flight. Appends made meanwhile are left to the next sync.
    const writes = [...this.#writes]
    const retired = this.#retired.splice(0)
    const writer = this.#writer!
    const dirSync = this.#dirSync
    this.#dirSync = false
    try {
      await Promise.all(writes)
      this.#throwFailure()
      const pack = await writer
      await Promise.all([pack.handle, ...retired].map(async (handle) => { await handle.datasync() }))
      await Promise.all(retired.map(async (handle) => { await handle.close() }))
      if (dirSync) {
        const dir = await open(this.dir, 'r')
        try { await dir.sync() } finally { await dir.close() }
      }
    } catch (err) {
      // Left for the next sync to do again.
      this.#unsynced = true
      this.#dirSync ||= dirSync
      this.#retired.push(...retired)
      throw err
    }
  }

  /** Reads the bytes at a location; `E_CORRUPT` when the pack is missing or too short. */
  async read (location: ChunkLocation): Promise<Uint8Array> {
    const bytes = Buffer.allocUnsafe(location.size)
    await this.readInto(location, bytes)
    return bytes
  }

  /** Reads the bytes at a location into `target` (at least as long); `E_CORRUPT` when the pack is missing or too short. */
  async readInto (location: ChunkLocation, target: Uint8Array): Promise<void> {
    const handle = await this.#reader(location.pack)
    let done = 0
    while (done < location.size) {
      const { bytesRead } = await handle.read(target, done, location.size - done, location.offset + done)
      if (bytesRead === 0) throw new CorruptError(`pack ${packName(location.pack)} ends before byte ${location.offset + location.size}`)
      done += bytesRead
    }
  }

  /**
   * Reads each location into its target, as `readInto` does, with one read for chunks that lie one after
   * another in a pack, in whatever order they are asked for: the records' headers between them are skipped.
   * When a run cannot be read whole, its chunks are read again one by one, and the first that fails is
   * passed to `unreadable` (which throws an error naming it) or its error thrown as it is.
   */
  async readAllInto<T extends { location: ChunkLocation, target: Uint8Array }> (reads: readonly T[], unreadable?: (read: T, err: unknown) => never): Promise<void> {
    await Promise.all(neighbours(reads).map(async (run) => {
      if (run.length > 1) {
        const whole = await this.#readRun(run).catch(() => false)
        if (whole) return
      }
      for (const read of run) await this.readInto(read.location, read.target).catch((err: unknown) => { throw unreadable === undefined ? err : unreadable(read, err) })
    }))
  }

  /** Reads a run of neighbouring chunks with one read; false when the pack ends before the run does. */
  async #readRun (run: ReadonlyArray<{ location: ChunkLocation, target: Uint8Array }>): Promise<boolean> {
    const handle = await this.#reader(run[0]!.location.pack)
    const buffers = run.flatMap(({ location, target }, i) => i === 0 ? [target.subarray(0, location.size)] : [SKIPPED_HEADER, target.subarray(0, location.size)])
    const { bytesRead } = await handle.readv(buffers, run[0]!.location.offset)
    return bytesRead === piecesLength(buffers)
  }

  /** Where the next append will go: what `truncateTo` takes the packs back to. */
  async end (): Promise<PacksEnd> {
    if (this.#writer !== undefined) {
      const pack = await this.#writer
      return { pack: pack.number, size: pack.size }
    }
    const last = await this.#lastNumber()
    return { pack: last, size: last === 0 ? 0 : (await this.fileSize(last)) ?? 0 }
  }

  /**
   * Takes back every byte appended after `end`: waits for the writes in flight, cuts the pack that was newest
   * back to its size there, removes the packs begun since, and syncs. The caller holds the store and has
   * deleted every record that named those bytes.
   */
  async truncateTo (end: PacksEnd): Promise<void> {
    while (this.#writes.size > 0) await Promise.allSettled([...this.#writes])
    const writer = await this.#writer?.catch(() => undefined)
    this.#writer = undefined
    for (const handle of [...this.#retired.splice(0), ...(writer === undefined ? [] : [writer.handle])]) await handle.close().catch(() => undefined)
    this.#lastRetired = Math.min(this.#lastRetired, end.pack - 1)
    this.#unsynced = false
    this.#sinceSync = 0
    const later = (await this.#numbers()).filter((number) => number > end.pack)
    for (const number of later) {
      const reader = this.#readers.get(number)
      this.#readers.delete(number)
      await reader?.then(async (handle) => { await handle.close() }).catch(() => undefined)
      await rm(join(this.dir, packName(number)), { force: true })
    }
    if (end.pack > 0) {
      const handle = await open(join(this.dir, packName(end.pack)), 'r+')
      try {
        await handle.truncate(end.size)
        await handle.datasync()
      } finally {
        await handle.close()
      }
    }
    if (later.length > 0) {
      const dir = await open(this.dir, 'r')
      try { await dir.sync() } finally { await dir.close() }
    }
  }

  /** The size in bytes of pack `number` as the file system reports it now, or undefined when it is missing. */
  async fileSize (number: number): Promise<number | undefined> {
    return await stat(join(this.dir, packName(number))).then((info) => info.size, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined
      throw err
    })
  }

  /** How many pack files there are and their total size in bytes, as the file system reports them now. */
  async onDisk (): Promise<{ files: number, bytes: number }> {
    let files = 0
    let bytes = 0
    for (const number of await this.#numbers()) {
      const size = await this.fileSize(number).catch(() => undefined)
      if (size === undefined) continue
      files++
      bytes += size
    }
    return { files, bytes }
  }

  /** Closes every open pack file after the writes in flight. */
  async close (): Promise<void> {
    while (this.#writes.size > 0) await Promise.allSettled([...this.#writes])
    const handles = await Promise.allSettled([...this.#readers.values(), ...(this.#writer === undefined ? [] : [this.#writer.then((pack) => pack.handle)])])
    this.#readers.clear()
    this.#writer = undefined
    for (const handle of [...handles.flatMap((h) => h.status === 'fulfilled' ? [h.value] : []), ...this.#retired]) await handle.close().catch(() => undefined)
    this.#retired = []
  }

  #track (work: Promise<void>): void {
    const settled = work.catch((err: unknown) => { this.#failure ??= err }).finally(() => { this.#writes.delete(settled) })
    this.#writes.add(settled)
  }

  #throwFailure (): void {
    if (this.#failure === undefined) return
    const failure = this.#failure
    this.#failure = undefined
    throw failure
  }

  async #currentPack (): Promise<OpenPack> {
    if (this.#writer === undefined) {
      this.#writer = this.#lastPack().catch((err: NodeJS.ErrnoException) => {
        throw err instanceof CorruptError ? err : new CorruptError(`Cannot write to the packs in ${this.dir}: ${err.code ?? err.message}`, { cause: err })
      })
      this.#writer.catch(() => { this.#writer = undefined })
    }
    return await this.#writer
  }

  /** The newest pack, to append to at its end (past any bytes a killed writer left), or a first one. */
  async #lastPack (): Promise<OpenPack> {
    await mkdir(this.dir, { recursive: true })
    const last = await this.#lastNumber()
    if (last === 0) return await this.#startPack(1)
    const handle = await open(join(this.dir, packName(last)), 'r+')
    return { number: last, handle, size: (await handle.stat()).size }
  }

  /** The numbers of the pack files there are. */
  async #numbers (): Promise<number[]> {
    const names = await readdir(this.dir).catch((err: NodeJS.ErrnoException): string[] => {
      if (err.code === 'ENOENT') return []
      throw err
    })
    return names.flatMap((name) => PACK_NAME.test(name) ? [Number(name.slice(0, -5))] : [])
  }

  /** The number of the newest pack, or 0 when there is none. */
  async #lastNumber (): Promise<number> {
    return Math.max(0, ...await this.#numbers())
  }

  async #startPack (number: number): Promise<OpenPack> {
    const handle = await open(join(this.dir, packName(number)), 'wx')
    await handle.write(HEADER, 0, HEADER.length, 0)
    this.#dirSync = true
    this.#unsynced = true
    return { number, handle, size: HEADER.length }
  }

  async #reader (number: number): Promise<FileHandle> {
    let handle = this.#readers.get(number)
    if (handle === undefined) {
      handle = open(join(this.dir, packName(number)), 'r').catch((err: NodeJS.ErrnoException) => {
        this.#readers.delete(number)
        throw new CorruptError(`pack ${packName(number)} cannot be read: ${err.code === undefined ? err.message : describeSystemError(err.code)}`, { cause: err })
      })
      this.#readers.set(number, handle)
    }
    return await handle
  }
}

/** Where `readAllInto` reads the record headers between neighbouring chunks: never looked at, so shared by every read. */
const SKIPPED_HEADER = Buffer.alloc(RECORD_HEADER)
/** At most this many chunks are read at once: two pieces each, within the system's limit of 1,024 per read. */
const MOST_NEIGHBOURS = 256

/** The reads in pack order, cut into runs of chunks that lie one after another in one pack. */
function neighbours<T extends { location: ChunkLocation }> (reads: readonly T[]): T[][] {
  const runs: T[][] = []
  let run: T[] = []
  for (const read of [...reads].sort((a, b) => a.location.pack - b.location.pack || a.location.offset - b.location.offset)) {
    const last = run[run.length - 1]?.location
    const next = last !== undefined && read.location.pack === last.pack && read.location.offset === last.offset + last.size + RECORD_HEADER
    if (!next || run.length >= MOST_NEIGHBOURS) {
      if (run.length > 0) runs.push(run)
      run = []
    }
    run.push(read)
  }
  if (run.length > 0) runs.push(run)
  return runs
}

/** The file name of pack `number`. */
export function packName (number: number): string {
  return `${String(number).padStart(6, '0')}.pack`
}
