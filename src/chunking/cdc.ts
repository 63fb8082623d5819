import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'

/**
 * How blobs are cut into chunks: FastCDC's gear hash with normalised chunking, recorded in each store's
 * metadata. Boundaries depend only on content, so a change in place rewrites only the chunks it touches.
 */
export interface ChunkingParams {
  algorithm: 'fastcdc-gear32'
  /** No chunk is shorter, but a blob's last; a blob up to this size is one chunk. */
  min: number
  /** Where the stricter mask gives way to the looser one. */
  avg: number
  /** No chunk is longer. */
  max: number
  /** Mask of the hash bits that must all be zero for a boundary before `avg` bytes. */
  hard: number
  /** Mask of the hash bits that must all be zero for a boundary after `avg` bytes. */
  easy: number
}

/** The chunking of every store this snapstore creates: chunks of 64 KiB to 1 MiB, about 256 KiB on average. */
export const CHUNKING: ChunkingParams = {
  algorithm: 'fastcdc-gear32',
  min: 64 * 1024,
  avg: 256 * 1024,
  max: 1024 * 1024,
  hard: 0x7ffff000,
  easy: 0x7fff0000
}

/** Bytes at the start of a cutter's memory that hold the gear table. */
export const GEAR_BYTES = 1024

const PAGE = 64 * 1024

/** A chunking kernel over its own shared memory: the bytes to cut are written into `bytes` at or above `GEAR_BYTES`. */
export interface Cutter {
  readonly memory: WebAssembly.Memory
  /** The whole shared memory, as bytes. */
  readonly bytes: Uint8Array
  /** The end of the chunk starting at `start`, looking no further than `end` (offsets into `bytes`). */
  cut: (start: number, end: number) => number
}

let kernel: WebAssembly.Module | undefined
let gear: Uint8Array | undefined

/** A cutter with room for `capacity` bytes above the gear table. */
export function createCutter (params: ChunkingParams, capacity: number): Cutter {
  kernel ??= new WebAssembly.Module(readFileSync(new URL('./gear.wasm', import.meta.url)))
  const pages = Math.ceil((GEAR_BYTES + capacity) / PAGE)
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true })
  const bytes = new Uint8Array(memory.buffer)
  bytes.set(gearTable())
  const instance = new WebAssembly.Instance(kernel, { env: { memory } })
  const cut = instance.exports.cut as (start: number, end: number, min: number, avg: number, max: number, hard: number, easy: number) => number
  const { min, avg, max, hard, easy } = params
  return { memory, bytes, cut: (start, end) => cut(start, end, min, avg, max, hard | 0, easy | 0) }
}

/** The 256 gear values: the sha-256 digests of "snapstore gear 0" to "snapstore gear 31", end to end, read as little-endian 32-bit words. */
function gearTable (): Uint8Array {
  gear ??= Buffer.concat(Array.from({ length: 32 }, (_, k) => createHash('sha256').update(`snapstore gear ${k}`).digest()))
  return gear
}

/** Where each chunk of `bytes` ends, in order: the last is `bytes.length` (none for empty bytes). */
export function chunkEnds (bytes: Uint8Array, params: ChunkingParams = CHUNKING): number[] {
  const cutter = createCutter(params, bytes.length)
  cutter.bytes.set(bytes, GEAR_BYTES)
  const ends: number[] = []
  for (let at = GEAR_BYTES, end = GEAR_BYTES + bytes.length; at < end;) {
    at = cutter.cut(at, end)
    ends.push(at - GEAR_BYTES)
  }
  return ends
}

/** True when `value` is chunking parameters this snapstore can apply. */
export function isChunkingParams (value: unknown): value is ChunkingParams {
  const p = value as Partial<ChunkingParams> | undefined
  return p?.algorithm === 'fastcdc-gear32' && [p.min, p.avg, p.max, p.hard, p.easy].every((n) => Number.isSafeInteger(n)) &&
    p.min! > 0 && p.min! <= p.avg! && p.avg! <= p.max! && p.max! <= 64 * 1024 * 1024
}
