import { digestHex } from '../ids.ts'
import { eventKey, positionKey } from '../keys.ts'
import type { Op } from '../ops.ts'
import type { StoredEvent } from '../types.ts'

const EMPTY = new Uint8Array(0)
const utf8 = new TextEncoder()

/** Index entries of one event: its place in the total order, its id, and for an origin's first event the origin's place. */
export function logIndexOps ({ id, event }: StoredEvent): Op[] {
  const key = utf8.encode(eventKey(event.origin, event.seq))
  const ops: Op[] = [
    { type: 'put', sublevel: 'order', key: positionKey(event), value: EMPTY },
    { type: 'put', sublevel: 'eventId', key: digestHex(id), value: key }
  ]
  if (event.seq === 1) ops.push({ type: 'put', sublevel: 'origins', key: positionKey(event), value: utf8.encode(event.origin) })
  return ops
}
