import { decode } from './codec.ts'
import { BadInputError, NotFoundError } from './errors.ts'
import { RAW, tryParseCid } from './ids.ts'
import { appendEvents, readEventById } from './log.ts'
import { resolveId } from './resolve.ts'
import type { CID } from 'multiformats/cid'
import type { TagProjection } from './projections/tags.ts'
import type { Store } from './store.ts'
import type { EventDraft, StoredEvent } from './types.ts'

/** Fails with `E_BAD_INPUT` unless `name` can be a tag's name: non-empty, no spaces, not an id. */
export function checkTagName (name: string): void {
  if (name === '' || /[\s]/.test(name)) throw new BadInputError(`Cannot set tag ${JSON.stringify(name)}: a tag name is non-empty and has no spaces`)
  // A full id always means itself, so a tag of that name could never be used.
  if (tryParseCid(name) !== undefined) throw new BadInputError(`Cannot set tag "${name}": a tag name cannot be an id`)
}

/** The `tag.set` draft that points `name` at `target`, or undefined when the tag already points there. */
export async function tagEventIfNeeded (store: Store, name: string, target: CID): Promise<EventDraft | undefined> {
  checkTagName(name)
  const stored = await store.sub.tags.get(name)
  if (stored !== undefined && decode<TagProjection>(stored).target.equals(target)) return undefined
  return { type: 'tag.set', body: { name, target } }
}

/**
 * Points a tag at a blob or run (anything `resolveId` accepts); last writer wins across merges.
 * Returns the recorded event, or undefined when the tag already pointed there.
 */
export async function setTag (store: Store, name: string, id: string | CID): Promise<StoredEvent | undefined> {
  const target = typeof id === 'string' ? await resolveId(store, id, 'any') : id
  if (target.code !== RAW) {
    // An event id names a run only as its run.start; a tag on any other event would lead nowhere.
    const event = await readEventById(store, target)
    if (event === undefined) throw new NotFoundError(`Cannot set tag "${name}": "${target.toString()}" is not in the store`)
    if (event.event.type !== 'run.start') throw new BadInputError(`Cannot set tag "${name}": a tag points at a blob or a run, and "${target.toString()}" is a ${event.event.type} event`)
  }
  const draft = await tagEventIfNeeded(store, name, target)
  if (draft === undefined) return undefined
  const [event] = await appendEvents(store, [draft])
  return event
}
