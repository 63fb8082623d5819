import { digestHex } from '../ids.ts'
import { eventKey, positionKey } from '../keys.ts'
import { NO_VALUE } from '../ops.ts'
import type { Op } from '../ops.ts'
import type { StoredEvent } from '../types.ts'

const utf8 = new TextEncoder()

/** Index entries of one event: its place in the total order, its id, and for an origin's first event the origin's place. */
export function logIndexOps ({ id, event }: StoredEvent): Op[] {
  // Origins are hex and seqs digits: latin1 is their UTF-8, and a small Buffer comes from Node's shared pool.
  const key = Buffer.from(eventKey(event.origin, event.seq), 'latin1')
  const ops: Op[] = [
    { type: 'put', sublevel: 'order', key: positionKey(event), value: NO_VALUE },
    { type: 'put', sublevel: 'eventId', key: digestHex(id), value: key }
  ]
  if (event.seq === 1) ops.push({ type: 'put', sublevel: 'origins', key: positionKey(event), value: utf8.encode(event.origin) })
  return ops
}
