import { BadInputError, CorruptError } from '../errors.ts'
import { DAG_CBOR, isSha256Cid, tryParseCid } from '../ids.ts'
import { API, MAX_FRAME, ORIGIN_PATTERN, joinDigests, parseFrames } from './protocol.ts'
import { Peer } from './peer.ts'
import type { MergeSource } from '../merge/source.ts'
import type { Pieces } from '../pieces.ts'
import type { OriginHead } from '../types.ts'
import type { HeadsReply, SyncLimits } from './protocol.ts'
import type { PeerOptions } from './peer.ts'

/** Options for reading from a server. */
export interface HttpSourceOptions extends PeerOptions {}

/** What a server says it holds, checked for shape (the merge checks it against the events themselves). */
export interface RemoteHeads {
  origin: string
  heads: OriginHead[]
  push: boolean
  limits: SyncLimits
}

// Events asked for per request: each answer is read whole before its events are checked, one origin at a time.
const EVENTS_PER_REQUEST = 1000
const MAX_EVENTS_ANSWER = 32 * 1024 * 1024
const MAX_RECORD = 128 * 1024 * 1024

/**
 * A `snapstore serve` server as a merge source. Like every source it is untrusted: the merge engine checks
 * every id, link and digest. A stream cut short is `E_NET` (connection) or `E_CORRUPT` (an answer that
 * ends inside an event, or with no event where the server claims some); it never yields fewer events.
 * @example
 * const source = await openHttpSource('http://10.0.0.5:7420', { token: process.env.SNAPSTORE_TOKEN })
 * const result = await mergeStores(dest, source)
 */
export async function openHttpSource (url: string, options: HttpSourceOptions = {}): Promise<MergeSource> {
  const peer = new Peer(url, options)
  let limits: SyncLimits | undefined
  return {
    name: peer.name,
    heads: async () => {
      const remote = await readRemoteHeads(peer)
      limits = remote.limits
      return remote.heads
    },
    events: async function * (origin, from, to) {
      const perRequest = Math.max(1, Math.min(EVENTS_PER_REQUEST, limits?.maxEvents ?? EVENTS_PER_REQUEST))
      for (let next = from; next <= to;) {
        const last = Math.min(to, next + perRequest - 1)
        const body = await peer.send({ path: `${API}/events/${origin}?from=${next}&to=${last}`, what: `read events ${origin}:${next}..${last}`, limit: MAX_EVENTS_ANSWER })
        const frames = parseFrames(body!, peer.name)
        if (frames.length === 0) throw new CorruptError(`Cannot read events from ${peer.name}: it claims origin ${origin} up to seq ${to}, but sends no event from seq ${next}`)
        if (frames.length > last - next + 1) throw new CorruptError(`Cannot read events from ${peer.name}: it sent ${frames.length} events of origin ${origin} where ${last - next + 1} were asked for`)
        yield frames
        next += frames.length
      }
    },
    eventAt: async (origin, seq) => await peer.send({ path: `${API}/event/${origin}/${seq}`, what: `read event ${origin}:${seq}`, limit: MAX_FRAME, missingOk: true }),
    blobRecord: async (hex) => await peer.send({ path: `${API}/blob/${hex}`, what: `read the record of blob ${hex}`, limit: MAX_RECORD, missingOk: true }),
    chunk: async (hex) => await peer.send({ path: `${API}/chunk/${hex}`, what: `fetch chunk ${hex}`, limit: MAX_FRAME, missingOk: true }),
    blobRecords: async (hexes) => await inBatches(hexes, limits?.maxBatch, async (part) => {
      const records = await peer.items({ method: 'POST', path: `${API}/blobs`, what: `read the records of ${part.length} blobs`, body: joinDigests(part), limit: MAX_RECORD }, part.length)
      return records.map((pieces) => pieces === undefined ? undefined : joined(pieces))
    }),
    // Chunks are copied into the merge's group memory as they arrive (about 60 ms a GiB here): the socket's
    // buffers are then garbage at once instead of held until the group is written, and each chunk reaches
    // its pack as one buffer instead of the half dozen pieces it arrived in.
    chunks: async (wanted, memory) => {
      let used = 0
      return await inBatches(wanted, limits?.maxBatch, async (part) => {
        // The records say how big each chunk is: an answer larger than that is refused before it is read whole.
        const limit = part.reduce((sum, { size }) => sum + 4 + Math.min(size, MAX_FRAME), 0)
        const room = memory?.subarray(Math.min(used, memory.length))
        used += part.reduce((sum, { size }) => sum + size, 0)
        return await peer.items({ method: 'POST', path: `${API}/chunks`, what: `fetch ${part.length} chunks`, body: joinDigests(part.map(({ hex }) => hex)), limit }, part.length, room)
      })
    },
    close: async () => { peer.close() }
  }
}

/** Asks a server for its heads, limits and whether it takes pushes; an answer of the wrong shape is `E_BAD_INPUT` or `E_CORRUPT`. */
export async function readRemoteHeads (peer: Peer): Promise<RemoteHeads> {
  const body = await peer.send({ path: `${API}/heads`, what: 'read the heads', limit: MAX_RECORD })
  let reply: Partial<HeadsReply>
  try {
    reply = JSON.parse(body!.toString('utf8')) as Partial<HeadsReply>
  } catch (err) {
    throw new BadInputError(`Cannot read the heads from ${peer.name}: it does not answer as a snapstore server`, { cause: err })
  }
  if (reply?.snapstore !== 'sync' || reply.version !== 1) throw new BadInputError(`Cannot read the heads from ${peer.name}: it does not answer as a snapstore server (protocol version 1)`)
  const bad = (what: string): CorruptError => new CorruptError(`Cannot read the heads from ${peer.name}: ${what}`)
  const limits = reply.limits
  if (limits === undefined || ![limits.maxEvents, limits.maxPushBytes, limits.maxDigests, limits.maxBatch].every((n) => Number.isSafeInteger(n) && n > 0)) throw bad('its limits are malformed')
  if (!Array.isArray(reply.heads) || typeof reply.origin !== 'string') throw bad('they are malformed')
  const heads: OriginHead[] = []
  const seen = new Set<string>()
  for (const head of reply.heads) {
    const cid = typeof head?.head === 'string' ? tryParseCid(head.head) : undefined
    if (typeof head?.origin !== 'string' || !ORIGIN_PATTERN.test(head.origin) || seen.has(head.origin) || !Number.isSafeInteger(head.seq) || head.seq < 1 || cid === undefined || !isSha256Cid(cid, DAG_CBOR)) {
      throw bad(`a head is malformed: ${JSON.stringify(head).slice(0, 200)}`)
    }
    seen.add(head.origin)
    heads.push({ origin: head.origin, seq: head.seq, head: cid })
  }
  return { origin: reply.origin, heads, push: reply.push === true, limits }
}

/** The pieces' bytes as one buffer (a record is small; a record in one piece is not copied). */
function joined (pieces: Pieces): Uint8Array {
  return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)
}

/** Asks for items in requests of at most `max` (the server's limit), keeping their order. */
async function inBatches<T, R> (items: readonly T[], max = 64, ask: (part: readonly T[]) => Promise<R[]>): Promise<R[]> {
  const out: R[] = []
  for (let i = 0; i < items.length; i += max) out.push(...await ask(items.slice(i, i + max)))
  return out
}
