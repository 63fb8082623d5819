import { CorruptError } from '../errors.ts'
import type { Pieces } from '../pieces.ts'

// The wire protocol shared by `serve` and its clients (pull through `merge`, and `push`):
//   GET  /v1/heads                          JSON: the version vector with head ids, limits, whether pushes are taken
//   GET  /v1/events/ORIGIN?from=F&to=T      frames of raw event bytes, seq F up to T (the server may stop early)
//   GET  /v1/event/ORIGIN/SEQ               one event's raw bytes
//   GET  /v1/blob/HEX                       a blob's record (size and chunk list) as raw CBOR
//   GET  /v1/chunk/HEX                      one chunk's bytes
//   POST /v1/blobs, POST /v1/chunks         body: 32-byte digests; answer: one frame per digest, in order (records, chunks)
//   POST /v1/lacking/blobs|chunks           body and answer: 32-byte digests; the answer lists those the server lacks
//   POST /v1/push                           body: a CAR file; answer: the MergeResult as JSON
// An error is answered as JSON (ErrorReply), 503 when the server is busy (retried a few times) and 423 when
// another process holds its store (retried for as long as the client's --wait).
// A frame is a 4-byte big-endian length, then that many bytes; in batch answers the length 0xffffffff
// (with no bytes) says the server lacks that item.

/** The path prefix of this protocol version. */
export const API = '/v1'

/** What `GET /v1/heads` answers. */
export interface HeadsReply {
  snapstore: 'sync'
  version: 1
  /** The served store's own origin. */
  origin: string
  heads: Array<{ origin: string, seq: number, head: string }>
  /** True when the server takes pushes (`serve --allow-push`). */
  push: boolean
  limits: SyncLimits
}

/** The bounds a server keeps to; a client stays inside them. */
export interface SyncLimits {
  /** Events per `events` request. */
  maxEvents: number
  /** Bytes of one push. */
  maxPushBytes: number
  /** Digests per `lacking` request. */
  maxDigests: number
  /** Digests per `blobs` or `chunks` request. */
  maxBatch: number
}

/** An error as a server sends it: the code of the error it raised and its message. */
export interface ErrorReply {
  code: string
  message: string
  /** For `E_LOCKED`: the process holding the served store, where the server's OS tells. */
  pid?: number
  /** For `E_LOCKED` with a pid: the server's host name. */
  host?: string
}

/** An origin id: 128 bits in lowercase hex. */
export const ORIGIN_PATTERN = /^[0-9a-f]{32}$/
/** A sha-256 digest in lowercase hex. */
export const DIGEST_PATTERN = /^[0-9a-f]{64}$/
/** A seq as it appears in a path or query: a positive integer without leading zeros. */
export const SEQ_PATTERN = /^[1-9][0-9]{0,15}$/

/** Bytes of a digest in a `lacking` request or answer. */
export const DIGEST_BYTES = 32
/** The largest frame a client accepts: no event or chunk comes near it. */
export const MAX_FRAME = 16 * 1024 * 1024
/** The length that marks an absent item in a batch answer. */
export const ABSENT = 0xffffffff

/** Frames `payload` for an events stream: its length as 4 bytes big-endian, then the bytes. */
export function frameHeader (length: number): Buffer {
  const header = Buffer.alloc(4)
  header.writeUInt32BE(length)
  return header
}

/** Splits a whole events answer into its frames; a stream that ends inside a frame is `E_CORRUPT`. */
export function parseFrames (body: Buffer, where: string): Uint8Array[] {
  const frames: Uint8Array[] = []
  let offset = 0
  while (offset < body.length) {
    if (body.length - offset < 4) throw new CorruptError(`Cannot read events from ${where}: the stream ends inside a frame header`)
    const length = body.readUInt32BE(offset)
    if (length > MAX_FRAME) throw new CorruptError(`Cannot read events from ${where}: a frame claims ${length} bytes`)
    if (body.length - offset - 4 < length) throw new CorruptError(`Cannot read events from ${where}: the stream ends inside an event (${body.length - offset - 4} of ${length} bytes)`)
    frames.push(body.subarray(offset + 4, offset + 4 + length))
    offset += 4 + length
  }
  return frames
}

/** Pieces one item is kept in at most: past this, it is joined into one buffer, so a peer that sends its bytes a few at a time cannot make a client hold a view per byte. */
export const MAX_ITEM_PIECES = 256

/**
 * Cuts a batch answer into its items as its bytes arrive. Given `memory`, items are copied into it one after
 * another while they fit, each as one buffer, and the received pieces are garbage at once; other items are
 * kept as views of the pieces they lie in (copied only when one comes in more than MAX_ITEM_PIECES pieces).
 * `finish` checks that exactly the asked-for count arrived; anything else is `E_CORRUPT`.
 */
export class BatchReader {
  readonly #where: string
  readonly #items: Array<Pieces | undefined> = []
  readonly #header = Buffer.alloc(4)
  readonly #memory: Uint8Array | undefined
  #memoryUsed = 0
  #headerFill = 0
  #item: Uint8Array[] | undefined
  #itemLength = 0
  #itemLeft = 0
  #joined: Uint8Array | undefined

  constructor (where: string, memory?: Uint8Array) {
    this.#where = where
    this.#memory = memory
  }

  /** Takes the next piece of the answer. */
  push (piece: Buffer): void {
    let at = 0
    while (at < piece.length) {
      if (this.#item === undefined) {
        const take = Math.min(4 - this.#headerFill, piece.length - at)
        piece.copy(this.#header, this.#headerFill, at, at + take)
        this.#headerFill += take
        at += take
        if (this.#headerFill < 4) return
        this.#headerFill = 0
        const length = this.#header.readUInt32BE(0)
        if (length === ABSENT) {
          this.#items.push(undefined)
          continue
        }
        if (length > MAX_FRAME) throw this.#corrupt(`an item claims ${length} bytes`)
        this.#item = []
        this.#itemLength = length
        this.#itemLeft = length
        this.#joined = this.#fromMemory(length)
      }
      const take = Math.min(this.#itemLeft, piece.length - at)
      if (take > 0) this.#keep(piece.subarray(at, at + take))
      this.#itemLeft -= take
      at += take
      if (this.#itemLeft === 0) {
        this.#items.push(this.#joined === undefined ? this.#item : [this.#joined])
        this.#item = undefined
        this.#joined = undefined
      }
    }
  }

  /** The items, once the answer has ended: exactly `count` of them (undefined where absent). */
  finish (count: number): Array<Pieces | undefined> {
    if (this.#headerFill > 0) throw this.#corrupt('the answer ends inside a frame header')
    if (this.#item !== undefined) throw this.#corrupt('the answer ends inside an item')
    if (this.#items.length !== count) throw this.#corrupt(`it holds ${this.#items.length} items where ${count} were asked for`)
    return this.#items
  }

  /** The next `length` bytes of the memory given, or undefined when they do not fit. */
  #fromMemory (length: number): Uint8Array | undefined {
    if (this.#memory === undefined || this.#memoryUsed + length > this.#memory.length) return undefined
    this.#memoryUsed += length
    return this.#memory.subarray(this.#memoryUsed - length, this.#memoryUsed)
  }

  /** Adds a part of the current item: as a view, or copied into the item's own buffer once it has come in too many pieces. */
  #keep (part: Uint8Array): void {
    const offset = this.#itemLength - this.#itemLeft
    if (this.#joined === undefined && this.#item!.length < MAX_ITEM_PIECES) {
      this.#item!.push(part)
      return
    }
    if (this.#joined === undefined) {
      this.#joined = Buffer.allocUnsafe(this.#itemLength)
      let at = 0
      for (const earlier of this.#item!) {
        this.#joined.set(earlier, at)
        at += earlier.length
      }
      this.#item = []
    }
    this.#joined.set(part, offset)
  }

  #corrupt (why: string): CorruptError {
    return new CorruptError(`Cannot read a batch from ${this.#where}: ${why}`)
  }
}

/** Splits a body of concatenated 32-byte digests into hex strings; undefined when its length is not a multiple of 32. */
export function parseDigests (body: Buffer): string[] | undefined {
  if (body.length % DIGEST_BYTES !== 0) return undefined
  const out: string[] = []
  for (let offset = 0; offset < body.length; offset += DIGEST_BYTES) out.push(body.subarray(offset, offset + DIGEST_BYTES).toString('hex'))
  return out
}

/** Joins hex digests into a body of 32-byte digests. */
export function joinDigests (hexes: readonly string[]): Buffer {
  return Buffer.concat(hexes.map((hex) => Buffer.from(hex, 'hex')))
}
