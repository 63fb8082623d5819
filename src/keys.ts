import type { EventPosition } from './types.ts'

const WIDTH = 15
const ZEROS = '0'.repeat(WIDTH)

/** A non-negative integer padded so that keys sort numerically. */
export function pad (n: number): string {
  const digits = String(n)
  return digits.length >= WIDTH ? digits : ZEROS.slice(digits.length) + digits
}

/** Key of an event in the log: origin, then seq. */
export function eventKey (origin: string, seq: number): string {
  return `${origin}:${pad(seq)}`
}

/** Splits an event key back into origin and seq. */
export function parseEventKey (key: string): { origin: string, seq: number } {
  const [origin = '', seq = ''] = key.split(':')
  return { origin, seq: Number(seq) }
}

/** Key of an event in the total order: (clock, origin, seq). */
export function positionKey (position: EventPosition): string {
  return `${pad(position.clock)}:${position.origin}:${pad(position.seq)}`
}

/** Splits a total-order key back into its position. */
export function parsePositionKey (key: string): EventPosition {
  const [clock = '', origin = '', seq = ''] = key.split(':')
  return { clock: Number(clock), origin, seq: Number(seq) }
}

/** Compares two positions in the total order (clock, origin, seq). */
export function comparePositions (a: EventPosition, b: EventPosition): number {
  if (a.clock !== b.clock) return a.clock - b.clock
  if (a.origin !== b.origin) return a.origin < b.origin ? -1 : 1
  return a.seq - b.seq
}

/** The smallest key above every key that starts with `prefix`. */
export function prefixEnd (prefix: string): string {
  return prefix + '\uffff'
}
