import { decode, encode } from './codec.ts'
import { BadInputError } from './errors.ts'
import { digestHex } from './ids.ts'
import { appendEvents } from './log.ts'
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
  if (options.tag !== undefined && options.tag === '') throw new BadInputError('Cannot add a tag with an empty name')
  const drafts: EventDraft[] = []
  const stored = await store.sub.blobs.get(digestHex(put.id))
  const projection = stored === undefined ? undefined : decode<BlobRecordProjection>(stored)
  if (recordsSomethingNew(projection, kind, options)) {
    drafts.push({ type: 'blob.add', body: { blob: put.id, kind, size: put.size, ...pick(options, projection) } })
  }
  if (options.tag !== undefined) {
    const tag = await tagEventIfNeeded(store, options.tag, put.id)
    if (tag !== undefined) drafts.push(tag)
  }
  const events = drafts.length === 0 ? [] : await appendEvents(store, drafts, { sync: options.sync ?? true })
  return { id: put.id, size: put.size, events }
}

function isPath (source: BlobSource | { path: string }): source is { path: string } {
  return typeof (source as { path?: unknown }).path === 'string'
}

/** The name and metadata a `blob.add` records: `nameIfNew` only for a blob that has no name yet, so it never replaces one given before. */
function pick (options: AddOptions, projection: BlobRecordProjection | undefined): { name?: string, meta?: Record<string, string> } {
  const out: { name?: string, meta?: Record<string, string> } = {}
  const name = options.name ?? (projection?.name === undefined ? options.nameIfNew : undefined)
  if (name !== undefined) out.name = name
  if (options.meta !== undefined && Object.keys(options.meta).length > 0) out.meta = options.meta
  return out
}

function recordsSomethingNew (projection: BlobRecordProjection | undefined, kind: BlobKind, options: AddOptions): boolean {
  if (projection === undefined) return true
  if (projection.kinds[kind] === undefined) return true
  if (options.name !== undefined && projection.name?.value !== options.name) return true
  const meta = pick(options, projection).meta
  return meta !== undefined && (projection.meta === undefined || !Buffer.from(encode(projection.meta.value)).equals(encode(meta)))
}
