import { BadInputError } from '../errors.ts'
import { eventKey } from '../keys.ts'
import { listHeads } from '../log.ts'
import { chunkLocations, hasChunks, readChunk, readChunkAt } from '../chunks.ts'
import { SlabPool } from '../slab-pool.ts'
import { ABSENT, DIGEST_BYTES, frameHeader, joinDigests, parseDigests } from './protocol.ts'
import { BULK_READ } from '../store.ts'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { HeadsReply, SyncLimits } from './protocol.ts'
import type { StoreLease } from './store-lease.ts'
import type { Store } from '../store.ts'
import type { ChunkLocation } from '../packs/packs.ts'

// Events are read from the store a page at a time and the store is let go while the page is written,
// so a slow reader never holds the store; one answer stops after about this many bytes.
const READ_PAGE = 500
const ANSWER_BYTES = 4 * 1024 * 1024
// Items of a batch answer read together: one lookup for their records or locations, their chunks read at once.
const WINDOW_ITEMS = 64
const WINDOW_BYTES = 4 * 1024 * 1024
// Window buffers kept for reuse between answers: enough for the requests a few clients have in flight.
const slabs = new SlabPool(WINDOW_BYTES, 8)

/** Answers `GET /v1/heads`: the version vector with head ids, the limits, and whether pushes are taken. */
export async function sendHeads (res: ServerResponse, lease: StoreLease, limits: SyncLimits, push: boolean): Promise<void> {
  const reply = await lease.use(async (store): Promise<HeadsReply> => ({
    snapstore: 'sync',
    version: 1,
    origin: store.origin,
    heads: (await listHeads(store)).map(({ origin, seq, head }) => ({ origin, seq, head: head.toString() })),
    push,
    limits
  }))
  sendJson(res, 200, reply)
}

/** Answers `GET /v1/events/ORIGIN?from&to`: frames of raw event bytes in seq order, at most `maxEvents`, streamed with backpressure. */
export async function sendEvents (res: ServerResponse, lease: StoreLease, origin: string, from: number, to: number, maxEvents: number): Promise<void> {
  const last = Math.min(to, from + maxEvents - 1)
  const readPage = async (seq: number): Promise<Uint8Array[]> => await lease.use(async (store) => {
    const page: Uint8Array[] = []
    for await (const value of store.sub.event.values({ ...BULK_READ, gte: eventKey(origin, seq), lte: eventKey(origin, last), limit: READ_PAGE })) page.push(value)
    return page
  })
  let seq = from
  let page = await readPage(seq)
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' })
  let sent = 0
  while (page.length > 0 && !res.destroyed) {
    for (const bytes of page) {
      await write(res, frameHeader(bytes.length))
      await write(res, bytes)
      sent += 4 + bytes.length
    }
    seq += page.length
    if (seq > last || sent >= ANSWER_BYTES) break
    page = await readPage(seq)
  }
  res.end()
}

/** Answers with one stored value (an event, a blob record, a chunk) or 404. */
export async function sendValue (res: ServerResponse, value: Uint8Array | undefined): Promise<void> {
  if (value === undefined) {
    sendJson(res, 404, { code: 'E_NOT_FOUND', message: 'Not found' })
    return
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': value.length, 'cache-control': 'no-store' })
  await write(res, value)
  res.end()
}

/** Answers `POST /v1/blobs|chunks`: one frame per digest in the body, in order, read a window at a time under a short hold of the store and written with backpressure. */
export async function sendBatch (req: IncomingMessage, res: ServerResponse, lease: StoreLease, what: 'blob' | 'chunk', maxBatch: number): Promise<void> {
  const digests = await readDigests(req, maxBatch)
  // The next window is read while this one is written, so the disk and the socket keep each other busy.
  const read = (from: number): Promise<Window> => {
    const reading = lease.use(async (store) => await readWindow(store, what, digests, from))
    reading.catch(() => undefined)
    return reading
  }
  let next = digests.length === 0 ? undefined : read(0)
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'cache-control': 'no-store' })
  for (let done = 0; next !== undefined && !res.destroyed;) {
    const { items, release } = await next
    done += items.length
    next = done < digests.length ? read(done) : undefined
    // One write for the window's frames: corked, they leave in one writev instead of a chunk per header and per item.
    // The window's buffer is lent again once that write is done (its callback), never while the socket holds it.
    res.cork()
    items.forEach((value, i) => {
      const last = i === items.length - 1
      res.write(frameHeader(value === undefined ? ABSENT : value.length), last && value === undefined ? whenWritten(release) : undefined)
      if (value !== undefined) res.write(value, last ? whenWritten(release) : undefined)
    })
    res.uncork()
    await drained(res)
  }
  await next?.catch(() => undefined)
  res.end()
}

/** Items of a batch answer read together, and how to give back the buffer they lie in once they are written. */
interface Window {
  items: Array<Uint8Array | undefined>
  release: () => void
}

/**
 * Reads the items of a batch from `from` on: up to WINDOW_ITEMS of them, and for chunks no more than
 * about WINDOW_BYTES (at least one), with one database lookup for all and the chunks read together
 * into one buffer lent by the pool.
 */
async function readWindow (store: Store, what: 'blob' | 'chunk', digests: readonly string[], from: number): Promise<Window> {
  const hexes = digests.slice(from, from + WINDOW_ITEMS)
  if (what === 'blob') return { items: await store.sub.blob.getMany(hexes), release: () => undefined }
  const locations = await chunkLocations(store, hexes)
  let bytes = 0
  let count = 0
  while (count < hexes.length && (count === 0 || bytes + (locations[count]?.size ?? 0) <= WINDOW_BYTES)) bytes += locations[count++]?.size ?? 0
  const slab = bytes <= slabs.size ? slabs.take() : undefined
  let offset = 0
  const reads: Array<{ location: ChunkLocation, target: Uint8Array }> = []
  const placed = locations.slice(0, count).map((location) => {
    if (slab === undefined || location === undefined) return undefined
    const target = slab.bytes.subarray(offset, offset += location.size)
    reads.push({ location, target })
    return target
  })
  await store.packs.readAllInto(reads)
  const items = await Promise.all(hexes.slice(0, count).map(async (hex, i) => placed[i] ?? await readChunkAt(store, hex, locations[i])))
  return { items, release: slab?.release ?? (() => undefined) }
}

/** Answers `POST /v1/lacking/blobs|chunks`: of the digests in the body, those the store lacks. */
export async function sendLacking (req: IncomingMessage, res: ServerResponse, lease: StoreLease, what: 'blob' | 'chunk', maxDigests: number): Promise<void> {
  const digests = await readDigests(req, maxDigests)
  const held = digests.length === 0 ? [] : await lease.use(async (store) => what === 'blob' ? await store.sub.blob.hasMany(digests) : await hasChunks(store, digests))
  const lacking = digests.filter((_, i) => held[i] !== true)
  const bytes = joinDigests(lacking)
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length })
  res.end(bytes)
}

/** A blob's record or a chunk's bytes, as stored, or undefined. */
export async function readItem (store: Store, what: 'blob' | 'chunk', hex: string): Promise<Uint8Array | undefined> {
  return what === 'blob' ? await store.sub.blob.get(hex) : await readChunk(store, hex)
}

async function readDigests (req: IncomingMessage, max: number): Promise<string[]> {
  const digests = parseDigests(await readBody(req, max * DIGEST_BYTES))
  if (digests === undefined) throw new BadInputError(`Cannot read the request: its body is not a list of ${DIGEST_BYTES}-byte digests`)
  return digests
}

/** Sends a JSON answer. */
export function sendJson (res: ServerResponse, status: number, value: unknown): void {
  const bytes = Buffer.from(JSON.stringify(value))
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length, 'cache-control': 'no-store' })
  res.end(bytes)
}

/** Reads a whole request body of at most `limit` bytes; a longer one is refused with 413 before it is all read. */
async function readBody (req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > limit) throw tooLarge(limit)
  const parts: Buffer[] = []
  let size = 0
  for await (const part of req as AsyncIterable<Buffer>) {
    size += part.length
    if (size > limit) throw tooLarge(limit)
    parts.push(part)
  }
  return Buffer.concat(parts, size)
}

/** The error for a request body over its limit (413). */
export function tooLarge (limit: number): BadInputError {
  return new BadInputError(`Cannot take the request: its body exceeds ${limit} bytes`, { details: { status: 413 } })
}

/** Writes to a response, waiting while the client's socket is full; gives up when the client went away. */
async function write (res: ServerResponse, bytes: Uint8Array): Promise<void> {
  if (res.destroyed) return
  if (res.write(bytes)) return
  await drained(res)
}

/** A write callback that calls `then` once the write succeeded (after a failed one, the buffer is left to the collector). */
function whenWritten (then: () => void): (err?: Error | null) => void {
  return (err) => { if (err == null) then() }
}

/** Waits until a response's buffered bytes have gone out, or the client went away. */
async function drained (res: ServerResponse): Promise<void> {
  if (res.destroyed || !res.writableNeedDrain) return
  await new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}
