import { decode, encode } from '../codec.ts'
import { comparePositions } from '../keys.ts'
import type { Op, StateReader } from '../ops.ts'
import type { CID } from 'multiformats/cid'
import type { EventPosition, SnapEvent, TagSetBody } from '../types.ts'

/** What the tag projection keeps of one tag: the target of its latest `tag.set` by (clock, origin, seq). */
export interface TagProjection {
  target: CID
  at: EventPosition
}

/** The projection keys a `tag.set` reads. */
export function tagKeysNeeded (body: TagSetBody): Array<['tags', string]> {
  return [['tags', body.name]]
}

/** Updates of the tag projection caused by one `tag.set`: last writer wins. */
export function tagSetOps (event: Extract<SnapEvent, { type: 'tag.set' }>, state: StateReader): Op[] {
  const at: EventPosition = { clock: event.clock, origin: event.origin, seq: event.seq }
  const stored = state.get('tags', event.body.name)
  if (stored !== undefined && comparePositions(at, decode<TagProjection>(stored).at) <= 0) return []
  const record: TagProjection = { target: event.body.target, at }
  return [{ type: 'put', sublevel: 'tags', key: event.body.name, value: encode(record) }]
}
