import { aliasOps } from './aliases.ts'
import { blobAddOps, blobKeysNeeded } from './blobs.ts'
import { runEventOps, runKeysNeeded } from './runs.ts'
import { tagKeysNeeded, tagSetOps } from './tags.ts'
import type { Op, StateReader } from '../ops.ts'
import type { SublevelName } from '../store.ts'
import type { StoredEvent } from '../types.ts'

const STATE_SUBLEVEL_NAMES = ['blobs', 'tags', 'runs'] as const satisfies readonly SublevelName[]

/** A sublevel whose values projection updates read: the only kind `keysNeeded` may name. */
export type StateSublevel = typeof STATE_SUBLEVEL_NAMES[number]

/** Every sublevel whose values projection updates read. */
export const STATE_SUBLEVELS: ReadonlySet<SublevelName> = new Set(STATE_SUBLEVEL_NAMES)

/** The projection keys that updating for `stored` reads; fetch them before calling `projectState`. */
export function keysNeeded (stored: StoredEvent): Array<[StateSublevel, string]> {
  const { event } = stored
  switch (event.type) {
    case 'blob.add': return blobKeysNeeded(event.body)
    case 'tag.set': return tagKeysNeeded(event.body)
    default: return runKeysNeeded(stored)
  }
}

/**
 * The projection updates one event causes beyond its index entries (`logIndexOps`), as batch operations.
 * Pure: the same event and state give the same operations, which is what lets append, merge and reindex
 * share it and never drift apart. Only these read the state.
 */
export function projectState (stored: StoredEvent, state: StateReader): Op[] {
  const { event } = stored
  switch (event.type) {
    case 'blob.add': return [...blobAddOps(event, state), ...aliasOps(event)]
    case 'tag.set': return tagSetOps(event, state)
    default: return runEventOps({ ...stored, event }, state)
  }
}
