import { decode, encode } from '../codec.ts'
import { cidStringBytes, digestHex } from '../ids.ts'
import { comparePositions, positionKey } from '../keys.ts'
import type { Op, StateReader } from '../ops.ts'
import type { BlobAddBody, BlobKind, EventPosition, SnapEvent } from '../types.ts'

/** A position in the total order with the wall time of its event. */
export interface TimedPosition extends EventPosition {
  time: number
}

/** What the blob projection keeps of one blob; each field is a join over every `blob.add` naming it. */
export interface BlobRecordProjection {
  size: number
  /** The first appearance of the blob as each kind. */
  kinds: Partial<Record<BlobKind, TimedPosition>>
  /** The name of the latest `blob.add` that gave one. */
  name?: { value: string, at: EventPosition }
  /** The metadata of the latest `blob.add` that gave some. */
  meta?: { value: Record<string, string>, at: EventPosition }
}

/** Key of a blob in the per-kind listing, ordered by first appearance. */
function kindKey (kind: BlobKind, position: EventPosition, digest: string): string {
  return `${kind}:${positionKey(position)}:${digest}`
}

/** The projection keys a `blob.add` reads. */
export function blobKeysNeeded (body: BlobAddBody): Array<['blobs', string]> {
  return [['blobs', digestHex(body.blob)]]
}

/** Updates of the blob projections caused by one `blob.add`, given the current state. */
export function blobAddOps (event: Extract<SnapEvent, { type: 'blob.add' }>, state: StateReader): Op[] {
  const { body } = event
  const digest = digestHex(body.blob)
  const at: EventPosition = { clock: event.clock, origin: event.origin, seq: event.seq }
  const stored = state.get('blobs', digest)
  const record: BlobRecordProjection = stored === undefined ? { size: body.size, kinds: {} } : decode<BlobRecordProjection>(stored)
  const ops: Op[] = []
  let changed = stored === undefined

  const first = record.kinds[body.kind]
  if (first === undefined || comparePositions(at, first) < 0) {
    if (first !== undefined) ops.push({ type: 'del', sublevel: 'kinds', key: kindKey(body.kind, first, digest) })
    record.kinds[body.kind] = { clock: at.clock, origin: at.origin, seq: at.seq, time: event.time }
    ops.push({ type: 'put', sublevel: 'kinds', key: kindKey(body.kind, at, digest), value: cidStringBytes(body.blob) })
    changed = true
  }
  if (body.name !== undefined && (record.name === undefined || comparePositions(at, record.name.at) > 0)) {
    record.name = { value: body.name, at }
    changed = true
  }
  if (body.meta !== undefined && (record.meta === undefined || comparePositions(at, record.meta.at) > 0)) {
    record.meta = { value: body.meta, at }
    changed = true
  }
  if (changed) ops.push({ type: 'put', sublevel: 'blobs', key: digest, value: encode(record) })
  return ops
}
