import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import type { FileHandle } from 'node:fs/promises'

// Bytes read at once for small blocks, and how many such windows are kept (the most recently used first).
const WINDOW = 1024 * 1024
const WINDOWS = 8
const SHA2_256 = 0x12
// The most one read of a file can take: a block claiming more is a damaged file.
const MAX_BLOCK = 2 ** 31 - 1

/** A stretch of the file read at once, starting at a multiple of WINDOW. */
interface Window {
  start: number
  bytes: Promise<Buffer>
}

/**
 * The blocks of a CAR file by CID, read from the file when asked for. The index keeps each block's CID
 * bytes as one flat string and its place in the file in typed arrays: about a hundred bytes a block, where
 * @ipld/car's CarIndexedReader keeps each CID's base32 text twice, as strings V8 builds a character at a
 * time (about 2 KiB a block: a CAR of 600,000 blocks did not fit a 1 GiB heap).
 */
export class CarBlocks {
  /** The CIDs the file names as its roots. */
  readonly roots: CID[]
  readonly #handle: FileHandle
  readonly #positions: Map<string, number>
  readonly #keys: string[]
  readonly #offsets: Float64Array
  readonly #lengths: Uint32Array
  readonly #windows: Window[] = []

  private constructor (roots: CID[], handle: FileHandle, positions: Map<string, number>, keys: string[], offsets: Float64Array, lengths: Uint32Array) {
    this.roots = roots
    this.#handle = handle
    this.#positions = positions
    this.#keys = keys
    this.#offsets = offsets
    this.#lengths = lengths
  }

  /** Reads the file through once to index its blocks; a truncated or malformed file fails with the parser's error. */
  static async open (path: string): Promise<CarBlocks> {
    const handle = await open(path, 'r')
    const stream = createReadStream(path)
    try {
      const { size } = await handle.stat()
      // @ipld/car is loaded only by those that read or write CAR files.
      const { CarIndexer } = await import('@ipld/car/indexer')
      const indexer = await CarIndexer.fromIterable(stream)
      const positions = new Map<string, number>()
      const keys: string[] = []
      let offsets = new Float64Array(1024)
      let lengths = new Uint32Array(1024)
      for await (const { cid, blockOffset, blockLength } of indexer) {
        // A length the parser took from a damaged or hostile header is refused before anything reads it.
        if (!Number.isSafeInteger(blockLength) || blockLength < 0 || blockLength > MAX_BLOCK || blockOffset + blockLength > size) {
          throw new Error(`block ${cid.toString()} claims ${blockLength} bytes at byte ${blockOffset} of a ${size}-byte file`)
        }
        const at = keys.length
        if (at === offsets.length) {
          offsets = grown(offsets, new Float64Array(at * 2))
          lengths = grown(lengths, new Uint32Array(at * 2))
        }
        const key = keyOf(cid)
        // A block repeated in the file is found at its first place, as a reader of the whole file would.
        if (positions.has(key)) continue
        positions.set(key, at)
        keys.push(key)
        offsets[at] = blockOffset
        lengths[at] = blockLength
      }
      return new CarBlocks(await indexer.getRoots(), handle, positions, keys, offsets, lengths)
    } catch (err) {
      stream.destroy()
      await handle.close()
      throw err
    }
  }

  /** Where the block with this CID is in the index, or undefined when the file lacks it. */
  position (cid: CID): number | undefined {
    return this.#positions.get(keyOf(cid))
  }

  /** The sha-256 digest the CID of the block at a position names, or undefined when its CID is not a CIDv1 of sha-256 (as every block snapstore writes is). */
  sha256At (position: number): Buffer | undefined {
    const key = this.#keys[position]!
    if (key.length !== 36 || key.charCodeAt(0) !== 1 || key.charCodeAt(1) >= 0x80 || key.charCodeAt(2) !== SHA2_256 || key.charCodeAt(3) !== 32) return undefined
    return Buffer.from(key.slice(4), 'latin1')
  }

  /** The CID of the block at a position of the index. */
  cidAt (position: number): CID {
    return CID.decode(Buffer.from(this.#keys[position]!, 'latin1'))
  }

  /**
   * The bytes of the block at a position of the index, read from the file; a file cut short fails. Small
   * blocks are served from aligned windows of WINDOW bytes: a merge reads a CAR's blocks in runs that lie
   * together, so one read brings many (a read per block of a few hundred bytes spent most of a merge waiting).
   */
  async read (position: number): Promise<Uint8Array> {
    const offset = this.#offsets[position]!
    const length = this.#lengths[position]!
    if (length <= WINDOW / 4) {
      const start = offset - offset % WINDOW
      const bytes = await this.#window(start)
      const from = offset - start
      // A copy: the window is dropped when evicted, whatever the caller keeps. A block across the window's end is read on its own.
      if (from + length <= bytes.length) return Buffer.from(bytes.subarray(from, from + length))
    }
    const bytes = Buffer.allocUnsafe(length)
    const { bytesRead } = await this.#handle.read(bytes, 0, length, offset)
    if (bytesRead !== length) throw new Error(`the file ends inside block ${position} (${bytesRead} of ${length} bytes)`)
    return bytes
  }

  /** The window starting at `start`, kept or read now; the least recently used is dropped, and so is a read that failed. */
  async #window (start: number): Promise<Buffer> {
    const at = this.#windows.findIndex((w) => w.start === start)
    let window: Window
    if (at >= 0) {
      window = this.#windows.splice(at, 1)[0]!
    } else {
      const buffer = Buffer.allocUnsafe(WINDOW)
      window = { start, bytes: this.#handle.read(buffer, 0, WINDOW, start).then(({ bytesRead }) => buffer.subarray(0, bytesRead)) }
      window.bytes.catch(() => {
        const failed = this.#windows.indexOf(window)
        if (failed >= 0) this.#windows.splice(failed, 1)
      })
    }
    this.#windows.unshift(window)
    if (this.#windows.length > WINDOWS) this.#windows.pop()
    return await window.bytes
  }

  /** Closes the file. */
  async close (): Promise<void> {
    await this.#handle.close()
  }
}

/** A CID's bytes as a flat one-byte string: a compact Map key. */
function keyOf (cid: CID): string {
  const { bytes } = cid
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
}

function grown<T extends Float64Array | Uint32Array> (from: T, to: T): T {
  to.set(from)
  return to
}
