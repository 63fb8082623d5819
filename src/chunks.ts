import { decode, encode } from './codec.ts'
import { CorruptError } from './errors.ts'
import { upgradeFormat } from './store.ts'
import type { Op } from './ops.ts'
import type { ChunkLocation } from './packs/packs.ts'
import type { Store } from './store.ts'
import type { Pieces } from './pieces.ts'

/** A chunk appended to a pack: the operation that names it, to be written in a batch once `written` settles. */
export interface StoredChunk {
  op: Op
  written: Promise<void>
  location: ChunkLocation
}

/** True for each chunk (by hex digest) the store holds. */
export async function hasChunks (store: Store, hexes: readonly string[]): Promise<boolean[]> {
  if (hexes.length === 0) return []
  const located = await store.sub.chunkAt.hasMany(hexes as string[])
  if (!store.inlineChunks || located.every(Boolean)) return located
  const inline = await store.sub.chunk.hasMany(hexes as string[])
  return located.map((has, i) => has || inline[i] === true)
}

/** Where each chunk lies in the store's packs, or undefined for one that is not in a pack. */
export async function chunkLocations (store: Store, hexes: readonly string[]): Promise<Array<ChunkLocation | undefined>> {
  const values = await store.sub.chunkAt.getMany(hexes as string[])
  return values.map((value, i) => value === undefined ? undefined : decodeChunkLocation(hexes[i]!, value))
}

/** The bytes of a chunk, unverified (callers hash them), or undefined when the store lacks it. */
export async function readChunk (store: Store, hex: string): Promise<Uint8Array | undefined> {
  return await readChunkAt(store, hex, (await chunkLocations(store, [hex]))[0])
}

/** The bytes of a chunk from its location, found beforehand (undefined: not in a pack). */
export async function readChunkAt (store: Store, hex: string, location: ChunkLocation | undefined): Promise<Uint8Array | undefined> {
  if (location !== undefined) return await store.packs.read(location)
  return store.inlineChunks ? await store.sub.chunk.get(hex) : undefined
}

/**
 * Reads chunks by digest with one lookup for where they lie and one read per run of them lying one after
 * another in a pack. A chunk of the size asked for goes into `memory`, one after another while it has room
 * (or into a buffer of its own); a chunk of another size is read whole on its own, for the caller to refuse;
 * a chunk the store lacks is undefined. A chunk that cannot be read is passed to `unreadable`, which throws
 * an error naming it.
 */
export async function readChunks (store: Store, wanted: ReadonlyArray<{ hex: string, size: number }>, memory: Uint8Array | undefined, unreadable: (hex: string, err: unknown) => never): Promise<Array<Uint8Array | undefined>> {
  const hexes = wanted.map(({ hex }) => hex)
  const locations = await chunkLocations(store, hexes)
  const reads: Array<{ location: ChunkLocation, target: Uint8Array, hex: string }> = []
  let used = 0
  const placed = locations.map((location, i): Uint8Array | undefined => {
    if (location === undefined || location.size !== wanted[i]!.size) return undefined
    const fits = memory !== undefined && used + location.size <= memory.length
    const target = fits ? memory.subarray(used, used + location.size) : Buffer.allocUnsafe(location.size)
    if (fits) used += location.size
    reads.push({ location, target, hex: hexes[i]! })
    return target
  })
  await store.packs.readAllInto(reads, (read, err) => unreadable(read.hex, err))
  return await Promise.all(hexes.map(async (hex, i) => placed[i] ?? await readChunkAt(store, hex, locations[i]).catch((err: unknown) => unreadable(hex, err))))
}

/** Appends a chunk's bytes, given in pieces, to the store's packs (which must not change until `written` settles). */
export async function storeChunk (store: Store, digest: Uint8Array, bytes: Pieces): Promise<StoredChunk> {
  return (await storeChunks(store, [{ digest, bytes }]))[0]!
}

/** Appends chunks one after another to the store's packs, with one write for all (the bytes must not change until `written` settles). */
export async function storeChunks (store: Store, chunks: ReadonlyArray<{ digest: Uint8Array, bytes: Pieces }>): Promise<StoredChunk[]> {
  // Nothing to store changes nothing, the store's format included.
  if (chunks.length === 0) return []
  await upgradeFormat(store)
  const { locations, written } = await store.packs.appendAll(chunks)
  return locations.map((location, i) => {
    const hex = Buffer.from(chunks[i]!.digest).toString('hex')
    return { op: { type: 'put', sublevel: 'chunkAt', key: hex, value: encode([location.pack, location.offset, location.size]) }, written, location }
  })
}

/** A chunk's location from its stored record; `E_CORRUPT` when the record is malformed. */
export function decodeChunkLocation (hex: string, value: Uint8Array): ChunkLocation {
  const fields = decode<unknown>(value)
  if (!Array.isArray(fields) || fields.length !== 3 || !fields.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw new CorruptError(`the location of chunk ${hex} is malformed`)
  }
  const [pack, offset, size] = fields as [number, number, number]
  return { pack, offset, size }
}
