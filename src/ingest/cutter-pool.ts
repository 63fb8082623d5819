import { GEAR_BYTES, createCutter } from '../chunking/cdc.ts'
import type { ChunkingParams, Cutter } from '../chunking/cdc.ts'

// A cutter is a shared WebAssembly memory and an instance over it: making one costs more than storing a
// small blob (100,000 blobs of a few bytes spent a quarter of their time making them, and as much again
// collecting them), so ingests hand theirs back for the next. Small requests share one size, so that
// any idle small cutter serves any small blob.
const SMALL_ROOM = 1024 * 1024
// Enough for every ingest a store runs at once (the CLI's add reads ahead a few; a library user may run
// more); the pages a small blob touched stay resident, at most SMALL_ROOM each.
const MAX_IDLE_SMALL = 16

interface Idle { key: string, cutter: Cutter }
const idleSmall: Idle[] = []
// One large cutter is kept, the largest given back: the next large ingest reuses it whole.
let idleLarge: Idle | undefined
const small = new WeakSet<Cutter>()

/** A cutter with room for at least `capacity` bytes above the gear table, idle from an earlier ingest when one fits. */
export function takeCutter (params: ChunkingParams, capacity: number): Cutter {
  const key = JSON.stringify(params)
  if (capacity <= params.max + SMALL_ROOM) {
    const at = idleSmall.findIndex((idle) => idle.key === key)
    if (at >= 0) return idleSmall.splice(at, 1)[0]!.cutter
    const cutter = createCutter(params, params.max + SMALL_ROOM)
    small.add(cutter)
    return cutter
  }
  if (idleLarge?.key === key && idleLarge.cutter.bytes.length >= GEAR_BYTES + capacity) {
    const { cutter } = idleLarge
    idleLarge = undefined
    return cutter
  }
  return createCutter(params, capacity)
}

/** Gives back a cutter `takeCutter` gave, once nothing reads or writes its memory any more. */
export function returnCutter (params: ChunkingParams, cutter: Cutter): void {
  const key = JSON.stringify(params)
  if (small.has(cutter)) {
    if (idleSmall.length < MAX_IDLE_SMALL) idleSmall.push({ key, cutter })
  } else if (idleLarge === undefined || idleLarge.cutter.bytes.length <= cutter.bytes.length) {
    idleLarge = { key, cutter }
  }
}
