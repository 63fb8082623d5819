import { decode, encode } from '../codec.ts'
import { comparePositions, positionKey } from '../keys.ts'
import { NO_VALUE } from '../ops.ts'
import type { Op, StateReader } from '../ops.ts'
import type { CID } from 'multiformats/cid'
import type { EventPosition, SnapEvent, TagSetBody } from '../types.ts'

/** What the tag projection keeps of one tag: the target of its latest `tag.set`, and its first `tag.set`. */
export interface TagProjection {
  target: CID
  at: EventPosition
  first: EventPosition
}

/** The projection keys a `tag.set` reads. */
export function tagKeysNeeded (body: TagSetBody): Array<['tags', string]> {
  return [['tags', body.name]]
}

/** Key of a tag in the listing by first appearance. */
function tagOrderKey (first: EventPosition, name: string): string {
  return `${positionKey(first)}:${name}`
}

/** Updates of the tag projections caused by one `tag.set`: last writer wins; listed by first appearance. */
export function tagSetOps (event: Extract<SnapEvent, { type: 'tag.set' }>, state: StateReader): Op[] {
  const at: EventPosition = { clock: event.clock, origin: event.origin, seq: event.seq }
  const name = event.body.name
  const stored = state.get('tags', name)
  const current = stored === undefined ? undefined : decode<TagProjection>(stored)
  const ops: Op[] = []
  let first = current?.first ?? at
  if (current === undefined || comparePositions(at, current.first) < 0) {
    if (current !== undefined) ops.push({ type: 'del', sublevel: 'tagOrder', key: tagOrderKey(current.first, name) })
    ops.push({ type: 'put', sublevel: 'tagOrder', key: tagOrderKey(at, name), value: NO_VALUE })
    first = at
  }
  const latest = current === undefined || comparePositions(at, current.at) > 0
  const record: TagProjection = latest ? { target: event.body.target, at, first } : { ...current, first }
  if (latest || first !== current?.first) ops.push({ type: 'put', sublevel: 'tags', key: name, value: encode(record) })
  return ops
}
