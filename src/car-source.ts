import { hash } from 'node:crypto'
import { resolve } from 'node:path'
import { CID } from 'multiformats/cid'
import { CarBlocks } from './car-blocks.ts'
import { decode, encode } from './codec.ts'
import { CorruptError, NotFoundError } from './errors.ts'
import { RAW, cidFromHex, digestHex } from './ids.ts'
import type { BlobRecord } from './blobs.ts'
import type { BlobManifest, CarRoot } from './car.ts'
import type { MergeSource } from './merge/source.ts'

/** The events of one origin a CAR file holds: a run of its chain ending at the head the root claims. */
interface Chain {
  /** The seq of the first event held. */
  first: number
  /** The positions of its events' blocks in the file's index, in seq order. */
  positions: number[]
}

/**
 * Opens a CAR file written by `exportCar` (or sent by `push`) as a merge source; every block is checked
 * against its CID when read. A CAR may carry only the end of each origin's chain (what its receiver
 * lacks); asking for an event before that is `E_CORRUPT`. `name` is how messages and the journal call it.
 * What it keeps in memory is a compact index of the file's blocks (see CarBlocks) and, per blob, where its
 * manifest is: blocks are read from the file when the merge asks for them.
 */
export async function openCarSource (path: string, name = path): Promise<MergeSource> {
  let blocks: CarBlocks
  try {
    blocks = await CarBlocks.open(path)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new NotFoundError(`Cannot read CAR file "${name}": no such file`, { cause: err })
    throw new CorruptError(`Cannot read CAR file "${name}": it is truncated or malformed (${(err as Error).message})`, { cause: err })
  }
  /** The checked bytes of the block at a position of the index. */
  const readAt = async (position: number): Promise<Uint8Array> => {
    let bytes
    try {
      bytes = await blocks.read(position)
    } catch (err) {
      throw new CorruptError(`Cannot read CAR file "${name}": block ${blocks.cidAt(position).toString()} is truncated or unreadable`, { cause: err })
    }
    const digest = blocks.sha256At(position)
    if (digest === undefined || !digest.equals(hash('sha256', bytes, 'buffer'))) throw new CorruptError(`Cannot read CAR file "${name}": block ${blocks.cidAt(position).toString()} does not match its id`)
    return bytes
  }
  const block = async (cid: CID): Promise<Uint8Array | undefined> => {
    const position = blocks.position(cid)
    return position === undefined ? undefined : await readAt(position)
  }
  try {
    const [rootCid] = blocks.roots
    const rootBytes = rootCid === undefined ? undefined : await block(rootCid)
    if (rootBytes === undefined) throw new CorruptError(`Cannot read CAR file "${name}": it has no snapstore root block`)
    const root = decode<CarRoot>(rootBytes)
    if (root?.snapstore !== 'car' || root.version !== 1 || !Array.isArray(root.heads) || !Array.isArray(root.blobs)) throw new CorruptError(`Cannot read CAR file "${name}": its root is not a snapstore CAR root`)
    const { heads } = root
    if (!heads.every((head) => typeof head?.origin === 'string' && Number.isSafeInteger(head.seq) && head.seq >= 1 && CID.asCID(head.head) !== null)) {
      throw new CorruptError(`Cannot read CAR file "${name}": its root lists a malformed head`)
    }
    // Each blob's manifest by the blob's hex digest, as a position in the index.
    const manifests = new Map<string, number>()
    for (const manifestCid of root.blobs) {
      const position = blocks.position(manifestCid)
      if (position === undefined) throw new CorruptError(`Cannot read CAR file "${name}": blob manifest ${manifestCid.toString()} is missing`)
      const manifest = decode<BlobManifest>(await readAt(position))
      manifests.set(digestHex(manifest.blob), position)
    }
    const chains = new Map<string, Chain>()
    const chainOf = async (origin: string): Promise<Chain> => {
      const known = chains.get(origin)
      if (known !== undefined) return known
      const head = heads.find((h) => h.origin === origin)
      const positions: number[] = []
      // Walk back from the head while the CAR holds the events; the merge checks every id, seq and link itself.
      for (let cid: CID | null = head?.head ?? null; cid !== null;) {
        const position = blocks.position(cid)
        if (position === undefined) break
        positions.push(position)
        // A prev that is not a CID ends the walk here; the merge then finds the link broken.
        cid = CID.asCID(decode<{ prev?: unknown }>(await readAt(position)).prev)
      }
      positions.reverse()
      const chain = { first: (head?.seq ?? 0) - positions.length + 1, positions }
      chains.set(origin, chain)
      return chain
    }
    const eventAt = async (origin: string, seq: number): Promise<Uint8Array | undefined> => {
      const chain = await chainOf(origin)
      const position = chain.positions[seq - chain.first]
      return position === undefined ? undefined : await readAt(position)
    }
    return {
      name,
      ...(name === path ? { journalName: resolve(path) } : {}),
      heads: async () => heads.map(({ origin, seq, head }) => ({ origin, seq, head })),
      events: async function * (origin, from, to) {
        const chain = await chainOf(origin)
        if (from < chain.first && from <= to) throw new CorruptError(`Cannot read CAR file "${name}": event ${origin}:${from} is missing (it holds that origin from seq ${chain.first})`)
        // Each event is a read of its own in the file: a page of one.
        for (let seq = from; seq <= to; seq++) {
          const bytes = await eventAt(origin, seq)
          if (bytes === undefined) return
          yield [bytes]
        }
      },
      eventAt,
      blobRecord: async (hex) => {
        const position = manifests.get(hex)
        if (position === undefined) return undefined
        const manifest = decode<BlobManifest>(await readAt(position))
        if (!Array.isArray(manifest?.chunks) || manifest.chunks.some((chunk) => CID.asCID(chunk) === null)) throw new CorruptError(`Cannot read CAR file "${name}": the manifest of blob ${hex} is malformed`)
        const chunks: Array<[Uint8Array, number]> = []
        for (const [i, chunk] of manifest.chunks.entries()) {
          // CARs written before sync carry no sizes: the chunk block says.
          const size = manifest.sizes?.[i] ?? (await block(chunk))?.length ?? -1
          chunks.push([chunk.multihash.digest, size])
        }
        return encode({ size: manifest.size, chunks } satisfies BlobRecord)
      },
      chunk: async (hex) => await block(cidFromHex(RAW, hex)),
      close: async () => { await blocks.close() }
    }
  } catch (err) {
    await blocks.close()
    if (err instanceof CorruptError) throw err
    throw new CorruptError(`Cannot read CAR file "${name}": ${(err as Error).message}`, { cause: err })
  }
}
