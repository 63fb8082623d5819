import { resolve } from 'node:path'
import { CarIndexedReader } from '@ipld/car/indexed-reader'
import { CID } from 'multiformats/cid'
import { decode, encode } from './codec.ts'
import { CorruptError, NotFoundError } from './errors.ts'
import { RAW, cidFromHex, digestHex, sha256Hex } from './ids.ts'
import type { BlobRecord } from './blobs.ts'
import type { BlobManifest, CarRoot } from './car.ts'
import type { MergeSource } from './merge/source.ts'

/** The events of one origin a CAR file holds: a run of its chain ending at the head the root claims. */
interface Chain {
  /** The seq of the first event held. */
  first: number
  ids: CID[]
}

/**
 * Opens a CAR file written by `exportCar` (or sent by `push`) as a merge source; every block is checked
 * against its CID when read. A CAR may carry only the end of each origin's chain (what its receiver
 * lacks); asking for an event before that is `E_CORRUPT`. `name` is how messages and the journal call it.
 */
export async function openCarSource (path: string, name = path): Promise<MergeSource> {
  let reader: CarIndexedReader
  try {
    reader = await CarIndexedReader.fromFile(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new NotFoundError(`Cannot read CAR file "${name}": no such file`, { cause: err })
    throw new CorruptError(`Cannot read CAR file "${name}": it is truncated or malformed (${(err as Error).message})`, { cause: err })
  }
  const read = async (cid: CID): Promise<{ bytes: Uint8Array } | undefined> => {
    try {
      return await reader.get(cid)
    } catch (err) {
      throw new CorruptError(`Cannot read CAR file "${name}": block ${cid.toString()} is truncated or unreadable`, { cause: err })
    }
  }
  const block = async (cid: CID): Promise<Uint8Array | undefined> => {
    const found = await read(cid)
    if (found === undefined) return undefined
    if (sha256Hex(found.bytes) !== digestHex(cid)) throw new CorruptError(`Cannot read CAR file "${name}": block ${cid.toString()} does not match its id`)
    return found.bytes
  }
  try {
    const [rootCid] = await reader.getRoots()
    const rootBytes = rootCid === undefined ? undefined : await block(rootCid)
    if (rootBytes === undefined) throw new CorruptError(`Cannot read CAR file "${name}": it has no snapstore root block`)
    const root = decode<CarRoot>(rootBytes)
    if (root?.snapstore !== 'car' || root.version !== 1 || !Array.isArray(root.heads) || !Array.isArray(root.blobs)) throw new CorruptError(`Cannot read CAR file "${name}": its root is not a snapstore CAR root`)
    const manifests = new Map<string, CID>()
    for (const manifestCid of root.blobs) {
      const bytes = await block(manifestCid)
      if (bytes === undefined) throw new CorruptError(`Cannot read CAR file "${name}": blob manifest ${manifestCid.toString()} is missing`)
      const manifest = decode<BlobManifest>(bytes)
      manifests.set(digestHex(manifest.blob), manifestCid)
    }
    const chains = new Map<string, Chain>()
    const chainOf = async (origin: string): Promise<Chain> => {
      const known = chains.get(origin)
      if (known !== undefined) return known
      const head = root.heads.find((h) => h.origin === origin)
      const ids: CID[] = []
      // Walk back from the head while the CAR holds the events; the merge checks every id, seq and link itself.
      for (let cid: CID | null = head?.head ?? null; cid !== null;) {
        const bytes = await block(cid)
        if (bytes === undefined) break
        ids.push(cid)
        cid = decode<{ prev: CID | null }>(bytes).prev ?? null
      }
      ids.reverse()
      const chain = { first: (head?.seq ?? 0) - ids.length + 1, ids }
      chains.set(origin, chain)
      return chain
    }
    const eventAt = async (origin: string, seq: number): Promise<Uint8Array | undefined> => {
      const chain = await chainOf(origin)
      const cid = chain.ids[seq - chain.first]
      return cid === undefined ? undefined : await block(cid)
    }
    return {
      name,
      ...(name === path ? { journalName: resolve(path) } : {}),
      heads: async () => root.heads.map(({ origin, seq, head }) => ({ origin, seq, head })),
      events: async function * (origin, from, to) {
        const chain = await chainOf(origin)
        if (from < chain.first && from <= to) throw new CorruptError(`Cannot read CAR file "${name}": event ${origin}:${from} is missing (it holds that origin from seq ${chain.first})`)
        for (let seq = from; seq <= to; seq++) {
          const bytes = await eventAt(origin, seq)
          if (bytes === undefined) return
          yield bytes
        }
      },
      eventAt,
      blobRecord: async (hex) => {
        const manifestCid = manifests.get(hex)
        const bytes = manifestCid === undefined ? undefined : await block(manifestCid)
        if (bytes === undefined) return undefined
        const manifest = decode<BlobManifest>(bytes)
        if (!Array.isArray(manifest?.chunks) || manifest.chunks.some((chunk) => CID.asCID(chunk) === null)) throw new CorruptError(`Cannot read CAR file "${name}": the manifest of blob ${hex} is malformed`)
        const chunks: Array<[Uint8Array, number]> = []
        for (const [i, chunk] of manifest.chunks.entries()) {
          // CARs written before sync carry no sizes: the chunk block says.
          const size = manifest.sizes?.[i] ?? (await read(chunk))?.bytes.length ?? -1
          chunks.push([chunk.multihash.digest, size])
        }
        return encode({ size: manifest.size, chunks } satisfies BlobRecord)
      },
      chunk: async (hex) => await block(cidFromHex(RAW, hex)),
      close: async () => { await reader.close() }
    }
  } catch (err) {
    await reader.close()
    if (err instanceof CorruptError) throw err
    throw new CorruptError(`Cannot read CAR file "${name}": ${(err as Error).message}`, { cause: err })
  }
}
