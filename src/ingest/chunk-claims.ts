import { Coalescer } from '../coalesce.ts'
import { hasChunks, storeChunk } from '../chunks.ts'
import type { StoredChunk } from '../chunks.ts'
import type { Store } from '../store.ts'

/** What one ingest learns of the chunks it cut: which it stores itself, and which another ingest in this process is storing. */
export interface ChunkClaim {
  /** Indexes (into the hexes asked about) of the chunks this ingest has claimed and must store with `storeClaimed`. */
  mine: number[]
  /** Chunks another ingest claimed: settled with its stored chunk once the bytes are written (rejected if it never stores them). */
  others: Array<{ index: number, stored: Promise<StoredChunk> }>
}

/** A claimed chunk: settled by its ingest once its bytes are written. */
interface Claimed {
  stored: Promise<StoredChunk>
  resolve: (chunk: StoredChunk) => void
  reject: (err: unknown) => void
}

interface Claims {
  /** Decisions and releases one at a time: a decision never reads the database before a release it does not see. */
  queue: Promise<unknown>
  byHex: Map<string, Claimed>
  /** Decisions for the ingests asking at once, with one read of the database for all of them. */
  decisions: Coalescer<readonly string[], ChunkClaim>
}

const claimsOf = new WeakMap<Store, Claims>()

/**
 * Ingests running together in one process (a library user's `Promise.all`, or `add` reading files ahead)
 * store each chunk once: the first to cut a chunk the store lacks claims it, and the others wait for its
 * bytes to be written and name the same location in their own batches. A claim lasts until its ingest has
 * written the batch that names it, or failed.
 */
export async function claimChunks (store: Store, hexes: readonly string[]): Promise<ChunkClaim> {
  // Ingests asking while a decision is under way are answered together by the next one: with many small
  // blobs stored at once, one read of the database each, in turn, was a quarter of their time.
  return await claimsFor(store).decisions.ask(hexes)
}

/** Decides for each ingest's chunks in the order they asked, each seeing the claims of those before it. */
async function decide (store: Store, claims: Claims, requests: ReadonlyArray<readonly string[]>): Promise<ChunkClaim[]> {
  const held = await hasChunks(store, requests.flat())
  let at = 0
  return requests.map((hexes) => {
    const claim: ChunkClaim = { mine: [], others: [] }
    hexes.forEach((hex, index) => {
      if (held[at + index] === true) return
      const other = claims.byHex.get(hex)
      if (other !== undefined) {
        claim.others.push({ index, stored: other.stored })
        return
      }
      let resolve: (chunk: StoredChunk) => void = () => undefined
      let reject: (err: unknown) => void = () => undefined
      const stored = new Promise<StoredChunk>((res, rej) => { resolve = res; reject = rej })
      stored.catch(() => undefined)
      claims.byHex.set(hex, { stored, resolve, reject })
      claim.mine.push(index)
    })
    at += hexes.length
    return claim
  })
}

/** Stores a chunk this ingest claimed; ingests waiting for it get it once its bytes are written. */
export async function storeClaimed (store: Store, hex: string, digest: Uint8Array, bytes: Uint8Array): Promise<StoredChunk> {
  const claimed = claimsFor(store).byHex.get(hex)
  try {
    const chunk = await storeChunk(store, digest, [bytes])
    chunk.written.then(() => { claimed?.resolve(chunk) }, (err: unknown) => { claimed?.reject(err) })
    return chunk
  } catch (err) {
    claimed?.reject(err)
    throw err
  }
}

/** Releases claims once the batch naming their chunks is written, or their ingest failed (waiters then store the chunks themselves). */
export async function releaseChunks (store: Store, hexes: readonly string[]): Promise<void> {
  if (hexes.length === 0) return
  const claims = claimsFor(store)
  await serialized(claims, async () => {
    for (const hex of hexes) {
      claims.byHex.get(hex)?.reject(new Error(`chunk ${hex} was not stored`))
      claims.byHex.delete(hex)
    }
  })
}

function claimsFor (store: Store): Claims {
  const known = claimsOf.get(store)
  if (known !== undefined) return known
  const claims: Claims = {
    queue: Promise.resolve(),
    byHex: new Map(),
    decisions: new Coalescer(async (requests) => await decide(store, claims, requests), (turn) => { void serialized(claims, turn) })
  }
  claimsOf.set(store, claims)
  return claims
}

async function serialized<T> (claims: Claims, work: () => Promise<T>): Promise<T> {
  const run = claims.queue.then(work)
  claims.queue = run.catch(() => undefined)
  return await run
}
