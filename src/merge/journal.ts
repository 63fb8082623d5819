import { randomBytes } from 'node:crypto'
import { decode, encode } from '../codec.ts'
import { pad } from '../keys.ts'
import type { Op } from '../ops.ts'
import type { Store } from '../store.ts'

/** One merge this store performed: kept locally, never replicated (it would ping-pong between stores). */
export interface JournalEntry {
  time: number
  source: string
  /** Origin → seq before and after, for the origins the source holds. */
  before: Record<string, number>
  after: Record<string, number>
  events: number
  blobs: number
  bytes: number
}

/** The batch operation that records a merge in the journal. */
export function journalOp (entry: JournalEntry): Op {
  return { type: 'put', sublevel: 'journal', key: `${pad(entry.time)}:${randomBytes(4).toString('hex')}`, value: encode(entry) }
}

/** Iterates the merges this store performed, oldest first. */
export async function * iterateJournal (store: Store): AsyncGenerator<JournalEntry> {
  for await (const value of store.sub.journal.values()) yield decode<JournalEntry>(value)
}
