import { decode, encode } from './codec.ts'
import { BadInputError } from './errors.ts'
import { digestHex } from './ids.ts'
import { appendHeld } from './log.ts'
import { exclusive } from './store.ts'
import { putBlob, putFile } from './ingest/put-blob.ts'
import { tagEventIfNeeded } from './tag.ts'
import type { CID } from 'multiformats/cid'
import type { BlobSource } from './ingest/fill.ts'
import type { PutBlobResult } from './ingest/put-blob.ts'
import type { BlobRecordProjection } from './projections/blobs.ts'
import type { Store } from './store.ts'
import type { BlobKind, EventDraft, OperationOptions, StoredEvent } from './types.ts'

/** Options for adding a blob. */
export interface AddOptions extends OperationOptions {
  name?: string
  /** A name recorded only when the `blob.add` is recorded anyway (the CLI passes the file name). */
  nameIfNew?: string
  meta?: Record<string, string>
  /** A tag to point at the blob. */
  tag?: string
  /** Sync the recorded events to disk before resolving. @default true */
  sync?: boolean
}

/** The result of adding a blob: its id, size and the events it recorded (none when nothing was new). */
export interface AddResult {
  id: CID
  size: number
  events: StoredEvent[]
}

/**
 * Stores bytes (in memory, streamed, or a file path) as a blob of the given kind and records `blob.add`.
 * Adding bytes the store already holds as that kind, with no new name or metadata, records nothing.
 * @example
 * const { id } = await addBlob(store, 'snapshot', { path: 'state-0001.bin' }, { name: 'equilibrated' })
 */
export async function addBlob (store: Store, kind: BlobKind, source: BlobSource | { path: string }, options: AddOptions = {}): Promise<AddResult> {
  if (options.tag !== undefined && options.tag === '') throw new BadInputError('Cannot add a tag with an empty name')
  const put = isPath(source) ? await putFile(store, source.path, options) : await putBlob(store, source, options)
  return await recordAdd(store, kind, put, options)
}

/** Records what `addBlob` records for bytes already stored (by `putBlob` or `putFile`): `blob.add` when something is new, and the tag. */
export async function recordAdd (store: Store, kind: BlobKind, put: PutBlobResult, options: AddOptions = {}): Promise<AddResult> {
  return (await recordAdds(store, kind, [{ put, options }], options.sync ?? true))[0]!
}

/**
 * Records what `recordAdd` records for several stored blobs, in order, with one append: each is judged new
 * or not as if the ones before it were recorded already (the same blob twice is recorded once).
 */
export async function recordAdds (store: Store, kind: BlobKind, items: ReadonlyArray<{ put: PutBlobResult, options: AddOptions }>, sync: boolean): Promise<AddResult[]> {
  for (const { options } of items) if (options.tag !== undefined && options.tag === '') throw new BadInputError('Cannot add a tag with an empty name')
  // Read, decided and appended in one turn of the store's writers: adds at the same time never both record the same news.
  return await exclusive(store, async () => {
    const hexes = items.map(({ put }) => digestHex(put.id))
    const stored = await store.sub.blobs.getMany(hexes)
    const views = new Map<string, BlobView | undefined>()
    hexes.forEach((hex, i) => { if (!views.has(hex)) views.set(hex, viewOf(stored[i])) })
    const drafts: EventDraft[] = []
    const counts: number[] = []
    for (const [i, { put, options }] of items.entries()) {
      const before = drafts.length
      const view = views.get(hexes[i]!)
      if (recordsSomethingNew(view, kind, options)) {
        const picked = pick(options, view)
        drafts.push({ type: 'blob.add', body: { blob: put.id, kind, size: put.size, ...picked } })
        views.set(hexes[i]!, { kinds: new Set([...view?.kinds ?? [], kind]), name: picked.name ?? view?.name, meta: picked.meta ?? view?.meta })
      }
      if (options.tag !== undefined) {
        const tag = await tagEventIfNeeded(store, options.tag, put.id)
        if (tag !== undefined) drafts.push(tag)
      }
      counts.push(drafts.length - before)
    }
    const events = drafts.length === 0 ? [] : await appendHeld(store, drafts, { sync })
    let at = 0
    return items.map(({ put }, i) => ({ id: put.id, size: put.size, events: events.slice(at, at += counts[i]!) }))
  })
}

/** What deciding whether a `blob.add` records something new needs of a blob's projection. */
interface BlobView {
  kinds: ReadonlySet<BlobKind>
  name: string | undefined
  meta: Record<string, string> | undefined
}

function viewOf (stored: Uint8Array | undefined): BlobView | undefined {
  if (stored === undefined) return undefined
  const projection = decode<BlobRecordProjection>(stored)
  return { kinds: new Set(Object.keys(projection.kinds) as BlobKind[]), name: projection.name?.value, meta: projection.meta?.value }
}

function isPath (source: BlobSource | { path: string }): source is { path: string } {
  return typeof (source as { path?: unknown }).path === 'string'
}

/** The name and metadata a `blob.add` records: `nameIfNew` only for a blob that has no name yet, so it never replaces one given before. */
function pick (options: AddOptions, view: BlobView | undefined): { name?: string, meta?: Record<string, string> } {
  const out: { name?: string, meta?: Record<string, string> } = {}
  const name = options.name ?? (view?.name === undefined ? options.nameIfNew : undefined)
  if (name !== undefined) out.name = name
  if (options.meta !== undefined && Object.keys(options.meta).length > 0) out.meta = options.meta
  return out
}

function recordsSomethingNew (view: BlobView | undefined, kind: BlobKind, options: AddOptions): boolean {
  if (view === undefined) return true
  if (!view.kinds.has(kind)) return true
  if (options.name !== undefined && view.name !== options.name) return true
  const meta = pick(options, view).meta
  return meta !== undefined && (view.meta === undefined || !Buffer.from(encode(view.meta)).equals(encode(meta)))
}
