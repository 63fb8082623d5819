import { field, humanBytes, isoTime } from './output.ts'
import type { StoredEvent } from '../types.ts'

/** The one-line summary of an event that `log` prints after its type. */
export function summarize ({ event }: StoredEvent): string {
  switch (event.type) {
    case 'blob.add': return [event.body.kind, event.body.blob.toString(), humanBytes(event.body.size).replace(' ', ''), event.body.name === undefined ? '' : JSON.stringify(event.body.name)].filter(Boolean).join(' ')
    case 'tag.set': return `${field(event.body.name)} -> ${event.body.target.toString()}`
    case 'run.start': return `from ${event.body.from?.toString() ?? '-'} config ${event.body.config?.toString() ?? '-'} seed ${event.body.seed}`
    case 'run.checkpoint': return `${event.body.run.toString()} cycle ${event.body.cycle ?? '-'} ${event.body.snapshot.toString()}`
    case 'run.end': return `${event.body.run.toString()} -> ${event.body.snapshot.toString()}`
    case 'run.fail': return `${event.body.run.toString()} ${event.body.reason}${event.body.exitCode === undefined ? '' : ` exit ${event.body.exitCode}`}${event.body.signal === undefined ? '' : ` signal ${event.body.signal}`}`
  }
}

/** The `log` line of an event: `time clock origin:seq type summary`. */
export function logLine (stored: StoredEvent): string {
  const { event } = stored
  return `${isoTime(event.time)} ${event.clock} ${event.origin}:${event.seq} ${event.type} ${summarize(stored)}`
}

/** An event as JSON, fields in reading order: id, type, origin, seq, clock, time, host, prev, body. */
export function eventJson ({ id, event }: StoredEvent): Record<string, unknown> {
  return { id, type: event.type, origin: event.origin, seq: event.seq, clock: event.clock, time: event.time, host: event.host, prev: event.prev, body: event.body }
}
