import { rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { carContents, writeCar } from '../car.ts'
import { AuthError, BadInputError, CorruptError, ForkError } from '../errors.ts'
import { readBlobRecords } from '../blobs.ts'
import { RAW, cidFromHex } from '../ids.ts'
import { listHeads, readEventAt } from '../log.ts'
import { withStore } from '../store.ts'
import { readRemoteHeads } from './http-source.ts'
import { removeAbandonedUploads, uploadPath } from './receive-push.ts'
import { Peer } from './peer.ts'
import { API, joinDigests, parseDigests } from './protocol.ts'
import type { Store, StoreInit } from '../store.ts'
import type { OperationOptions } from '../types.ts'
import type { PeerOptions } from './peer.ts'
import type { RemoteHeads } from './http-source.ts'

// Blob records are read this many at a time.
const RECORDS_AT_ONCE = 1000

/** Options of `pushStore`. */
export interface PushOptions extends OperationOptions, StoreInit, PeerOptions {
  /** Where the CAR to send is written first, so the store is held only while it is read. @default os.tmpdir() */
  tempDir?: string
}

/** What a push moved: what the server merged, as it reports it. */
export interface PushResult {
  /** The server's URL, without credentials. */
  target: string
  events: number
  blobs: number
  /** Bytes of chunks the server did not hold before. */
  bytes: number
}

/**
 * Sends a server (`serve --allow-push`) what it lacks: the events above its version vector, the blobs
 * they name that it lacks, and of those only the chunks it lacks, as one CAR. The server checks
 * everything as a local merge does before writing. Forks are found before anything is sent.
 * @example
 * const { events, blobs } = await pushStore('./job.store', 'http://10.0.0.5:7420', { token })
 */
export async function pushStore (path: string, url: string, options: PushOptions = {}): Promise<PushResult> {
  const peer = new Peer(url, options)
  const tempDir = options.tempDir ?? tmpdir()
  await removeAbandonedUploads(tempDir)
  const temp = uploadPath(tempDir)
  // An interruption drops the connection, so an upload stops at once; the CAR is removed all the same.
  const drop = (): void => { peer.close() }
  options.signal?.addEventListener('abort', drop, { once: true })
  try {
    // The store is opened first: a path that is no store is reported as such, whatever the server says.
    const remote = await withStore(path, options.wait === undefined ? {} : { wait: options.wait }, async (store) => {
      const heads = await readRemoteHeads(peer)
      if (!heads.push) throw new AuthError(`Cannot push to ${peer.name}: the server is read-only (start it with "snapstore serve --allow-push")`, { details: { url: peer.name } })
      await writePushCar(store, peer, heads, temp, options)
      return heads
    })
    const { size } = await stat(temp)
    if (size > remote.limits.maxPushBytes) {
      throw new BadInputError(`Cannot push to ${peer.name}: the push is ${size} bytes, the server takes at most ${remote.limits.maxPushBytes} (its --max-push-bytes)`)
    }
    const onSent = (done: number): void => options.onProgress?.({ type: 'snapstore:push:bytes', done, total: size })
    const answer = await peer.send({ method: 'POST', path: `${API}/push`, what: 'push', to: true, body: { file: temp, size, onSent }, limit: 1024 * 1024 })
    return { target: peer.name, ...parseResult(answer!, peer.name) }
  } catch (err) {
    options.signal?.throwIfAborted()
    throw err
  } finally {
    options.signal?.removeEventListener('abort', drop)
    peer.close()
    await rm(temp, { force: true })
  }
}

/** Works out what the server lacks and writes it as a CAR file to `temp`. */
async function writePushCar (store: Store, peer: Peer, remote: RemoteHeads, temp: string, options: OperationOptions): Promise<void> {
  const local = await listHeads(store)
  const theirs = new Map(remote.heads.map((head) => [head.origin, head]))
  const after = new Map<string, number>()
  for (const head of local) {
    const their = theirs.get(head.origin)
    if (their !== undefined && their.seq <= head.seq) {
      const ours = await readEventAt(store, head.origin, their.seq)
      if (ours === undefined || !ours.id.equals(their.head)) {
        throw new ForkError(`Cannot push to ${peer.name}: origin ${head.origin} forks at seq ${their.seq}: the stores hold different events there`,
          { details: { origin: head.origin, seq: their.seq } })
      }
    }
    // Where the server is ahead, the head still goes in the CAR's root: the server checks it against its own chain.
    after.set(head.origin, Math.min(their?.seq ?? 0, head.seq))
  }
  const { blobs } = await carContents(store, local, after, options)
  const lackingBlobs = new Set(await askLacking(peer, 'blobs', [...blobs], remote.limits.maxDigests))
  const sent = new Set([...blobs].filter((hex) => lackingBlobs.has(hex)))
  const chunks = new Set<string>()
  const ids = [...sent].map((hex) => cidFromHex(RAW, hex))
  for (let i = 0; i < ids.length; i += RECORDS_AT_ONCE) {
    const page = ids.slice(i, i + RECORDS_AT_ONCE)
    for (const [k, record] of (await readBlobRecords(store, page)).entries()) {
      if (record === undefined) throw new CorruptError(`Cannot push: blob ${page[k]!.toString()} is named by an event but missing`)
      for (const [digest] of record.chunks) chunks.add(Buffer.from(digest).toString('hex'))
    }
  }
  const lackingChunks = new Set(await askLacking(peer, 'chunks', [...chunks], remote.limits.maxDigests))
  const skipChunks = new Set([...chunks].filter((hex) => !lackingChunks.has(hex)))
  await writeCar(store, temp, { heads: local, after, blobs: sent, skipChunks }, options)
}

/** Of the given digests, those the server lacks, asked in requests of at most `perRequest`. */
async function askLacking (peer: Peer, what: 'blobs' | 'chunks', hexes: readonly string[], perRequest: number): Promise<string[]> {
  const lacking: string[] = []
  for (let i = 0; i < hexes.length; i += perRequest) {
    const asked = hexes.slice(i, i + perRequest)
    const answer = await peer.send({ method: 'POST', path: `${API}/lacking/${what}`, what: `send the digests of ${what} to push`, to: true, body: joinDigests(asked), limit: asked.length * 32 })
    const digests = parseDigests(answer!)
    const askedSet = new Set(asked)
    if (digests === undefined || digests.some((hex) => !askedSet.has(hex))) throw new CorruptError(`Cannot push to ${peer.name}: its answer about which ${what} it lacks is malformed`)
    lacking.push(...digests)
  }
  return lacking
}

function parseResult (body: Buffer, name: string): Omit<PushResult, 'target'> {
  let value: Partial<PushResult>
  try {
    value = JSON.parse(body.toString('utf8')) as Partial<PushResult>
  } catch (err) {
    throw new CorruptError(`Cannot read the answer to the push from ${name}: it is not JSON`, { cause: err })
  }
  const { events, blobs, bytes } = value
  if (![events, blobs, bytes].every((n) => Number.isSafeInteger(n) && n! >= 0)) throw new CorruptError(`Cannot read the answer to the push from ${name}: it is malformed`)
  return { events: events!, blobs: blobs!, bytes: bytes! }
}
