import { CID } from 'multiformats/cid'
import { decode, encode } from './codec.ts'
import { CorruptError } from './errors.ts'
import { DAG_CBOR, RAW, eventId, isSha256Cid } from './ids.ts'
import type { SnapEvent, StoredEvent } from './types.ts'

/** Every event type of format version 1. */
export const EVENT_TYPES = ['blob.add', 'run.start', 'run.checkpoint', 'run.end', 'run.fail', 'tag.set'] as const

/** The kinds of blob. */
export const BLOB_KINDS = ['snapshot', 'config', 'blob'] as const

const ORIGIN = /^[0-9a-f]{32}$/

/** Encodes an event and computes its id. */
export function sealEvent (event: SnapEvent): StoredEvent {
  const bytes = encode(event)
  return { id: eventId(bytes), bytes, event }
}

/** Decodes stored or received event bytes and checks their shape; anything malformed is `E_CORRUPT`. */
export function openEvent (bytes: Uint8Array, where: string): StoredEvent {
  return { id: eventId(bytes), bytes, event: decodeEvent(bytes, where) }
}

/** `openEvent` without the id: the decoded event, its shape checked; anything malformed is `E_CORRUPT`. */
export function decodeEvent (bytes: Uint8Array, where: string): SnapEvent {
  let value: unknown
  try {
    value = decode(bytes)
  } catch (err) {
    throw new CorruptError(`Cannot read event at ${where}: malformed CBOR`, { cause: err })
  }
  const problem = eventShapeProblem(value)
  if (problem !== undefined) throw new CorruptError(`Cannot read event at ${where}: ${problem}`)
  return value as SnapEvent
}

/** Describes what is wrong with the shape of a decoded event, or undefined when nothing is. */
export function eventShapeProblem (value: unknown): string | undefined {
  if (!isRecord(value)) return 'not a map'
  if (value['v'] !== 1) return `unknown event version ${String(value['v'])}`
  if (!(EVENT_TYPES as readonly unknown[]).includes(value['type'])) return `unknown event type ${JSON.stringify(value['type'])}`
  if (typeof value['origin'] !== 'string' || !ORIGIN.test(value['origin'])) return 'origin is not 32 hex digits'
  if (!isCount(value['seq'])) return 'seq is not a positive integer'
  if (!isCount(value['clock'])) return 'clock is not a positive integer'
  if (typeof value['time'] !== 'number' || !Number.isInteger(value['time'])) return 'time is not an integer'
  if (typeof value['host'] !== 'string') return 'host is not a string'
  if (value['prev'] !== null && !isEventCid(value['prev'])) return 'prev is neither null nor an event id'
  if ((value['seq'] === 1) !== (value['prev'] === null)) return 'prev must be null exactly at seq 1'
  const body = value['body']
  if (!isRecord(body)) return 'body is not a map'
  return bodyProblem(value['type'] as SnapEvent['type'], body)
}

function bodyProblem (type: SnapEvent['type'], body: Record<string, unknown>): string | undefined {
  switch (type) {
    case 'blob.add':
      if (!isBlobCid(body['blob'])) return 'blob.add names no blob id'
      if (!(BLOB_KINDS as readonly unknown[]).includes(body['kind'])) return 'blob.add has an unknown kind'
      if (typeof body['size'] !== 'number' || !Number.isInteger(body['size']) || body['size'] < 0) return 'blob.add has no size'
      if (body['name'] !== undefined && typeof body['name'] !== 'string') return 'blob.add name is not a string'
      if (body['meta'] !== undefined && !isStringMap(body['meta'])) return 'blob.add meta is not a map of strings'
      return undefined
    case 'tag.set':
      if (typeof body['name'] !== 'string' || body['name'] === '') return 'tag.set has no name'
      if (!isBlobCid(body['target']) && !isEventCid(body['target'])) return 'tag.set names no target'
      return undefined
    case 'run.start':
      if (!isRecord(body['params'])) return 'run.start has no params'
      if (typeof body['seed'] !== 'string' || typeof body['key'] !== 'string') return 'run.start has no seed or key'
      for (const field of ['from', 'config']) if (body[field] !== undefined && !isBlobCid(body[field])) return `run.start ${field} is not a blob id`
      if (body['continues'] !== undefined && !isEventCid(body['continues'])) return 'run.start continues is not a run id'
      return undefined
    case 'run.checkpoint':
    case 'run.end':
      if (!isEventCid(body['run'])) return `${type} names no run`
      if (!isBlobCid(body['snapshot'])) return `${type} names no snapshot`
      if (body['cycle'] !== undefined && !Number.isInteger(body['cycle'])) return `${type} cycle is not an integer`
      return undefined
    case 'run.fail':
      if (!isEventCid(body['run'])) return 'run.fail names no run'
      if (typeof body['reason'] !== 'string') return 'run.fail has no reason'
      if (body['lastCheckpoint'] !== undefined && !isBlobCid(body['lastCheckpoint'])) return 'run.fail lastCheckpoint is not a blob id'
      return undefined
  }
}

/** The blob ids and event ids an event refers to; a tag target may be either. */
export function eventReferences (event: SnapEvent): { blobs: CID[], events: CID[], either: CID[] } {
  const refs = { blobs: [] as CID[], events: [] as CID[], either: [] as CID[] }
  const body = event.body as unknown as Record<string, CID | undefined>
  switch (event.type) {
    case 'blob.add': refs.blobs.push(event.body.blob); break
    case 'tag.set': refs.either.push(event.body.target); break
    case 'run.start':
      for (const field of ['from', 'config'] as const) if (body[field] !== undefined) refs.blobs.push(body[field])
      if (event.body.continues !== undefined) refs.events.push(event.body.continues)
      break
    case 'run.checkpoint':
    case 'run.end': refs.blobs.push(event.body.snapshot); refs.events.push(event.body.run); break
    case 'run.fail':
      refs.events.push(event.body.run)
      if (event.body.lastCheckpoint !== undefined) refs.blobs.push(event.body.lastCheckpoint)
      break
  }
  return refs
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && CID.asCID(value) === null
}

function isStringMap (value: unknown): boolean {
  return isRecord(value) && Object.values(value).every((v) => typeof v === 'string')
}

function isCount (value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1
}

function isBlobCid (value: unknown): value is CID {
  const cid = CID.asCID(value)
  return cid !== null && isSha256Cid(cid, RAW)
}

function isEventCid (value: unknown): value is CID {
  const cid = CID.asCID(value)
  return cid !== null && isSha256Cid(cid, DAG_CBOR)
}
