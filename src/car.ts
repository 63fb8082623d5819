import { createWriteStream } from 'node:fs'
import { rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { CarIndexedReader } from '@ipld/car/indexed-reader'
import { CarWriter } from '@ipld/car/writer'
import { decode, encode } from './codec.ts'
import { CorruptError, NotFoundError } from './errors.ts'
import { eventReferences } from './event-format.ts'
import { DAG_CBOR, RAW, cidFromDigest, cidFromHex, digestHex, eventId, sha256Hex } from './ids.ts'
import { iterateOrigin, listHeads, readEventAt } from './log.ts'
import { parseEventKey } from './keys.ts'
import { readBlobRecord } from './blobs.ts'
import { resolveId } from './resolve.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecord } from './blobs.ts'
import type { MergeSource } from './merge/source.ts'
import type { Store } from './store.ts'
import type { OperationOptions, OriginHead } from './types.ts'

/** The root block of a snapstore CAR file: which heads it carries and the manifest of each blob. */
interface CarRoot {
  snapstore: 'car'
  version: 1
  heads: Array<{ origin: string, seq: number, head: CID }>
  blobs: CID[]
}

/** A blob manifest block: the whole-content id, its size and its chunks as raw blocks. */
interface BlobManifest {
  blob: CID
  size: number
  chunks: CID[]
}

/** What an export wrote. */
export interface ExportResult {
  events: number
  blobs: number
}

/**
 * Writes a CARv1 file holding the events and blobs a receiving store needs: everything, or for the
 * given ids (snapshots, configs, blobs, runs, events) each origin's chain up to the last event naming
 * them, with every blob those events name. The file appears only when complete.
 */
export async function exportCar (store: Store, path: string, ids: readonly string[] = [], options: OperationOptions = {}): Promise<ExportResult> {
  const heads = ids.length === 0 ? await listHeads(store) : await headsFor(store, ids)
  const blobIds = new Map<string, CID>()
  let events = 0
  for (const head of heads) {
    for await (const { event } of iterateOrigin(store, head.origin)) {
      if (event.seq > head.seq) break
      events++
      const refs = eventReferences(event)
      for (const cid of [...refs.blobs, ...refs.either]) if (cid.code === RAW) blobIds.set(digestHex(cid), cid)
    }
  }
  const manifests: Array<{ cid: CID, bytes: Uint8Array, record: BlobRecord }> = []
  for (const cid of blobIds.values()) {
    const record = await readBlobRecord(store, cid)
    if (record === undefined) throw new CorruptError(`Cannot export: blob ${cid.toString()} is named by an event but missing`)
    const bytes = encode({ blob: cid, size: record.size, chunks: record.chunks.map(([digest]) => cidFromDigest(RAW, digest)) } satisfies BlobManifest)
    manifests.push({ cid: cidFromHex(DAG_CBOR, sha256Hex(bytes)), bytes, record })
  }
  const root: CarRoot = { snapstore: 'car', version: 1, heads: heads.map(({ origin, seq, head }) => ({ origin, seq, head })), blobs: manifests.map((m) => m.cid) }
  const rootBytes = encode(root)
  const rootCid = eventId(rootBytes)
  const { writer, out } = CarWriter.create([rootCid])
  const temporary = join(dirname(path), `.${basename(path)}.snapstore-${process.pid}.tmp`)
  const written = pipeline(Readable.from(out), createWriteStream(temporary, { flush: true }))
  try {
    await writer.put({ cid: rootCid, bytes: rootBytes })
    const sent = new Set<string>()
    for (const manifest of manifests) {
      for (const [digest] of manifest.record.chunks) {
        options.signal?.throwIfAborted()
        const hex = Buffer.from(digest).toString('hex')
        if (sent.has(hex)) continue
        sent.add(hex)
        const bytes = await store.sub.chunk.get(hex)
        if (bytes === undefined) throw new CorruptError(`Cannot export: chunk ${hex} is missing`)
        await writer.put({ cid: cidFromDigest(RAW, digest), bytes })
      }
      await writer.put({ cid: manifest.cid, bytes: manifest.bytes })
    }
    for (const head of heads) {
      for await (const stored of iterateOrigin(store, head.origin)) {
        if (stored.event.seq > head.seq) break
        await writer.put({ cid: stored.id, bytes: stored.bytes })
      }
    }
    await writer.close()
    await written
    await rename(temporary, path)
  } catch (err) {
    await writer.close().catch(() => undefined)
    await written.catch(() => undefined)
    await rm(temporary, { force: true })
    throw err
  }
  return { events, blobs: manifests.length }
}

/** Per origin, the highest seq needed to carry the events naming the given ids, and every event those name. */
async function headsFor (store: Store, ids: readonly string[]): Promise<OriginHead[]> {
  const wanted = new Set<string>()
  for (const text of ids) wanted.add((await resolveId(store, text, 'any')).toString())
  const highest = new Map<string, number>()
  for (const head of await listHeads(store)) {
    for await (const { id, event } of iterateOrigin(store, head.origin)) {
      const refs = eventReferences(event)
      const named = [id, ...refs.blobs, ...refs.events, ...refs.either].some((cid) => wanted.has(cid.toString()))
      if (named) highest.set(event.origin, event.seq)
    }
  }
  if (highest.size === 0) throw new NotFoundError(`Cannot export ${ids.join(', ')}: no event names them`)
  // Events the carried events name (a tag on another store's run) come along, with their origins' chains.
  const done = new Map<string, number>()
  for (let pending = [...highest.keys()]; pending.length > 0; pending = [...highest].filter(([o, seq]) => (done.get(o) ?? 0) < seq).map(([o]) => o)) {
    for (const origin of pending) {
      const from = (done.get(origin) ?? 0) + 1
      const to = highest.get(origin)!
      done.set(origin, to)
      for await (const { event } of iterateOrigin(store, origin, from)) {
        if (event.seq > to) break
        const refs = eventReferences(event)
        for (const cid of [...refs.events, ...refs.either]) {
          if (cid.code !== DAG_CBOR) continue
          const at = await store.sub.eventId.get(digestHex(cid))
          if (at === undefined) continue
          const named = parseEventKey(new TextDecoder().decode(at))
          if (named.seq > (highest.get(named.origin) ?? 0)) highest.set(named.origin, named.seq)
        }
      }
    }
  }
  const heads: OriginHead[] = []
  for (const [origin, seq] of highest) {
    const stored = await readEventAt(store, origin, seq)
    if (stored !== undefined) heads.push({ origin, seq, head: stored.id })
  }
  return heads
}

/** Opens a CAR file written by `exportCar` as a merge source; every block is checked against its CID when read. */
export async function openCarSource (path: string): Promise<MergeSource> {
  let reader: CarIndexedReader
  try {
    reader = await CarIndexedReader.fromFile(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new NotFoundError(`Cannot read CAR file "${path}": no such file`, { cause: err })
    throw new CorruptError(`Cannot read CAR file "${path}": it is truncated or malformed (${(err as Error).message})`, { cause: err })
  }
  const read = async (cid: CID): Promise<{ bytes: Uint8Array } | undefined> => {
    try {
      return await reader.get(cid)
    } catch (err) {
      throw new CorruptError(`Cannot read CAR file "${path}": block ${cid.toString()} is truncated or unreadable`, { cause: err })
    }
  }
  const block = async (cid: CID): Promise<Uint8Array | undefined> => {
    const found = await read(cid)
    if (found === undefined) return undefined
    if (sha256Hex(found.bytes) !== digestHex(cid)) throw new CorruptError(`Cannot read CAR file "${path}": block ${cid.toString()} does not match its id`)
    return found.bytes
  }
  try {
    const [rootCid] = await reader.getRoots()
    const rootBytes = rootCid === undefined ? undefined : await block(rootCid)
    if (rootBytes === undefined) throw new CorruptError(`Cannot read CAR file "${path}": it has no snapstore root block`)
    const root = decode<CarRoot>(rootBytes)
    if (root?.snapstore !== 'car' || root.version !== 1 || !Array.isArray(root.heads) || !Array.isArray(root.blobs)) throw new CorruptError(`Cannot read CAR file "${path}": its root is not a snapstore CAR root`)
    const manifests = new Map<string, CID>()
    for (const manifestCid of root.blobs) {
      const bytes = await block(manifestCid)
      if (bytes === undefined) throw new CorruptError(`Cannot read CAR file "${path}": blob manifest ${manifestCid.toString()} is missing`)
      const manifest = decode<BlobManifest>(bytes)
      manifests.set(digestHex(manifest.blob), manifestCid)
    }
    const chains = new Map<string, CID[]>()
    const chainOf = async (origin: string): Promise<CID[]> => {
      const known = chains.get(origin)
      if (known !== undefined) return known
      const head = root.heads.find((h) => h.origin === origin)
      const chain: CID[] = []
      for (let cid: CID | null = head?.head ?? null; cid !== null;) {
        const bytes = await block(cid)
        if (bytes === undefined) throw new CorruptError(`Cannot read CAR file "${path}": event ${cid.toString()} of origin ${origin} is missing`)
        chain.push(cid)
        cid = decode<{ prev: CID | null }>(bytes).prev ?? null
      }
      chain.reverse()
      chains.set(origin, chain)
      return chain
    }
    return {
      name: path,
      heads: async () => root.heads.map(({ origin, seq, head }) => ({ origin, seq, head })),
      events: async function * (origin, from, to) {
        const chain = await chainOf(origin)
        for (let seq = from; seq <= to && seq <= chain.length; seq++) {
          const bytes = await block(chain[seq - 1]!)
          if (bytes !== undefined) yield bytes
        }
      },
      eventAt: async (origin, seq) => {
        const cid = (await chainOf(origin))[seq - 1]
        return cid === undefined ? undefined : await block(cid)
      },
      blobRecord: async (hex) => {
        const manifestCid = manifests.get(hex)
        const bytes = manifestCid === undefined ? undefined : await block(manifestCid)
        if (bytes === undefined) return undefined
        const manifest = decode<BlobManifest>(bytes)
        const chunks: Array<[Uint8Array, number]> = []
        for (const chunk of manifest.chunks) {
          const chunkBytes = await read(chunk)
          chunks.push([chunk.multihash.digest, chunkBytes?.bytes.length ?? -1])
        }
        return encode({ size: manifest.size, chunks } satisfies BlobRecord)
      },
      chunk: async (hex) => await block(cidFromHex(RAW, hex)),
      close: async () => { await reader.close() }
    }
  } catch (err) {
    await reader.close()
    if (err instanceof CorruptError) throw err
    throw new CorruptError(`Cannot read CAR file "${path}": ${(err as Error).message}`, { cause: err })
  }
}

