import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import { piecesLength } from '../pieces.ts'
import type { Pieces } from '../pieces.ts'

/** A message to a hashing thread. */
export type HashRequest =
  | { type: 'begin', buffer: SharedArrayBuffer }
  | { type: 'update', seq: number, ranges: number[] }
  | { type: 'digest' }
  | { type: 'chunks', seq: number, ranges: number[] }

type HashReply = { type: 'done', seq: number, digests?: Uint8Array } | { type: 'digest', digest: Uint8Array }

/** Hashing of an ingest's memory: the whole content fed in order, and the digests of chunks. */
export interface Hasher {
  /** Feeds `length` bytes at `start` to the whole-content hash; settles once they may be overwritten. */
  update: (start: number, length: number) => Promise<void>
  /** Feeds each [start, length] range in order, as `update` does one. */
  updateRanges: (ranges: ReadonlyArray<readonly [number, number]>) => Promise<void>
  /** The whole-content digest of everything fed, once all of it is hashed. */
  digest: () => Promise<Uint8Array>
  /** The sha-256 of each [start, length] range, in order. */
  chunks: (ranges: ReadonlyArray<readonly [number, number]>) => Promise<Uint8Array[]>
  /** Stops the hasher's threads, if it has any. */
  close: () => Promise<void>
}

/** Hashing on this thread, for blobs too small to be worth others. */
export function inlineHasher (memory: Uint8Array): Hasher {
  const whole = createHash('sha256')
  return {
    update: async (start, length) => { whole.update(memory.subarray(start, start + length)) },
    updateRanges: async (ranges) => { for (const [start, length] of ranges) whole.update(memory.subarray(start, start + length)) },
    digest: async () => whole.digest(),
    chunks: async (ranges) => ranges.map(([start, length]) => createHash('sha256').update(memory.subarray(start, start + length)).digest()),
    close: async () => undefined
  }
}

/** The whole-content hash of a blob on a thread of its own, fed with ranges of shared memory. */
type WholeHasher = Pick<Hasher, 'updateRanges' | 'digest' | 'close'>

/** A whole-content hash on a thread of its own that reads `buffer`, for work that keeps this thread busy with other hashing. */
function wholeHashThread (buffer: SharedArrayBuffer): WholeHasher {
  const whole = new HashThread()
  whole.begin(buffer)
  return {
    updateRanges: async (ranges) => { await whole.ask({ type: 'update', seq: 0, ranges: ranges.flat() }) },
    digest: async () => await whole.finalDigest(),
    close: async () => { await whole.close() }
  }
}

// Loaded with the first thread: commands that hash no large blob (listings, most reads) never load worker_threads.
let workerThreadsModule: typeof import('node:worker_threads') | undefined
function workerThreads (): typeof import('node:worker_threads') {
  workerThreadsModule ??= createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads')
  return workerThreadsModule
}

// Two hashing threads kept between blobs (idle, they do not keep the process alive), so a run of large
// blobs starts no thread after the first; a second user at the same time gets threads of its own.
let idlePair: [HashThread, HashThread] | undefined

/**
 * Hashing on two threads that read the ingest's shared memory: one hashes the whole content in order,
 * the other each round's chunks, while this thread reads, cuts and writes.
 */
export function threadedHasher (buffer: SharedArrayBuffer): Hasher {
  const pair = idlePair ?? [new HashThread(), new HashThread()]
  idlePair = undefined
  const [whole, chunks] = pair
  for (const thread of pair) thread.begin(buffer)
  let closed = false
  return {
    update: async (start, length) => { await whole.ask({ type: 'update', seq: 0, ranges: [start, length] }) },
    updateRanges: async (ranges) => { await whole.ask({ type: 'update', seq: 0, ranges: ranges.flat() }) },
    digest: async () => await whole.finalDigest(),
    chunks: async (ranges) => {
      const reply = await chunks.ask({ type: 'chunks', seq: 0, ranges: ranges.flat() })
      return ranges.map((_, i) => reply.digests!.subarray(32 * i, 32 * i + 32))
    },
    close: async () => {
      if (closed) return
      closed = true
      if (idlePair === undefined && pair.every((thread) => thread.idle())) {
        for (const thread of pair) thread.rest()
        idlePair = pair
      } else {
        await Promise.all(pair.map(async (thread) => { await thread.close() }))
      }
    }
  }
}

/** One worker thread running hash-worker.js over the shared memory, with its requests answered in order. */
class HashThread {
  readonly #worker: import('node:worker_threads').Worker
  readonly #waiting = new Map<number, { resolve: (reply: HashReply) => void, reject: (err: Error) => void }>()
  #seq = 0
  #failure: Error | undefined

  constructor () {
    this.#worker = new (workerThreads().Worker)(new URL('./hash-worker.js', import.meta.url))
    this.#worker.on('message', (reply: HashReply) => {
      const key = reply.type === 'digest' ? -1 : reply.seq
      this.#waiting.get(key)?.resolve(reply)
      this.#waiting.delete(key)
    })
    this.#worker.on('error', (err) => { this.#fail(err) })
    this.#worker.on('exit', (code) => { this.#fail(new Error(`a hashing thread stopped (exit code ${code})`)) })
  }

  /** Starts a new blob over `buffer` (the whole-content hash starts afresh); the thread keeps the process alive until `rest`. */
  begin (buffer: SharedArrayBuffer): void {
    this.#worker.ref()
    this.#worker.postMessage({ type: 'begin', buffer } satisfies HashRequest)
  }

  /** True when the thread works and nothing asked of it is pending. */
  idle (): boolean {
    return this.#failure === undefined && this.#waiting.size === 0
  }

  /** Lets the process exit while the thread waits for its next blob. */
  rest (): void {
    this.#worker.unref()
  }

  /** Sends a request and waits for its answer. */
  async ask (request: Extract<HashRequest, { seq: number }>): Promise<Extract<HashReply, { type: 'done' }>> {
    const seq = this.#seq++
    const reply = await this.#send(seq, { ...request, seq })
    return reply as Extract<HashReply, { type: 'done' }>
  }

  /** The whole-content digest. */
  async finalDigest (): Promise<Uint8Array> {
    const reply = await this.#send(-1, { type: 'digest' })
    return (reply as Extract<HashReply, { type: 'digest' }>).digest
  }

  async close (): Promise<void> {
    await this.#worker.terminate()
  }

  async #send (key: number, request: HashRequest): Promise<HashReply> {
    if (this.#failure !== undefined) throw this.#failure
    const answered = new Promise<HashReply>((resolve, reject) => this.#waiting.set(key, { resolve, reject }))
    this.#worker.postMessage(request)
    return await answered
  }

  #fail (err: Error): void {
    this.#failure ??= err
    for (const { reject } of this.#waiting.values()) reject(this.#failure)
    this.#waiting.clear()
  }
}

/** A whole-content hash fed with bytes from anywhere, which it copies into memory it shares with its thread. */
export interface CopyingWholeHasher {
  /** Copies and feeds the pieces' bytes, in order; waits only while every slot of the ring is still being hashed. */
  update: (pieces: Pieces) => Promise<void>
  digest: () => Promise<Uint8Array>
  close: () => Promise<void>
}

const RING_SLOTS = 8
// Room in each slot for aligning the pieces of one update (up to 7 bytes each): enough for 64 pieces at least.
const ALIGNED_PIECES = 64
// From this size on, a blob's whole content is hashed on a thread of its own while the caller checks its chunks.
const WHOLE_THREAD_FROM = 32 * 1024 * 1024

/** The whole-content hash for reading or copying a stored blob: on a thread of its own for a large blob of several chunks. */
export function wholeHasherFor (record: { size: number, chunks: ReadonlyArray<readonly [Uint8Array, number]> }): CopyingWholeHasher {
  if (record.size >= WHOLE_THREAD_FROM && record.chunks.length > 1) return copyingWholeHashThread(Math.max(...record.chunks.map(([, size]) => size)))
  const hash = createHash('sha256')
  return { update: async (pieces) => { for (const piece of pieces) hash.update(piece) }, digest: async () => hash.digest(), close: async () => undefined }
}

/** A whole-content hash on its own thread for updates of at most `maxUpdate` bytes, copied into a ring of shared slots. */
function copyingWholeHashThread (maxUpdate: number): CopyingWholeHasher {
  // Each piece lands at its own offset modulo 8 (copies into shared memory are several times slower
  // between addresses aligned differently), as long as the room a slot keeps for that allows.
  const stride = Math.ceil(Math.max(1, maxUpdate) / 8) * 8 + 8 * ALIGNED_PIECES
  const buffer = new SharedArrayBuffer(RING_SLOTS * stride)
  const memory = new Uint8Array(buffer)
  const whole = wholeHashThread(buffer)
  const slots: Array<Promise<void>> = Array.from({ length: RING_SLOTS }, () => Promise.resolve())
  let next = 0
  return {
    update: async (pieces) => {
      const slot = next++ % RING_SLOTS
      await slots[slot]
      const ranges: Array<[number, number]> = []
      let at = slot * stride
      let slack = stride - piecesLength(pieces)
      for (const piece of pieces) {
        const padding = (piece.byteOffset - at) & 7
        if (padding <= slack) {
          at += padding
          slack -= padding
        }
        memory.set(piece, at)
        const last = ranges[ranges.length - 1]
        if (last !== undefined && last[0] + last[1] === at) last[1] += piece.length
        else ranges.push([at, piece.length])
        at += piece.length
      }
      const hashed = whole.updateRanges(ranges)
      hashed.catch(() => undefined)
      slots[slot] = hashed
    },
    digest: async () => {
      await Promise.all(slots)
      return await whole.digest()
    },
    close: async () => { await whole.close() }
  }
}
