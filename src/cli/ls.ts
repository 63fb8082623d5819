import { UsageError } from '../errors.ts'
import { listBlobIds, listBlobs, listOrigins, listTags } from '../query.ts'
import { withStore } from '../store.ts'
import { storeInit } from './context.ts'
import { LineBuffer, isoTime, jsonReplacer } from './output.ts'
import type { Store } from '../store.ts'
import type { BlobKind } from '../types.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore ls`. */
export interface LsOptions extends StoreCommandOptions {
  long?: boolean
}

const BLOB_LISTS: Record<string, BlobKind> = { snapshots: 'snapshot', configs: 'config', blobs: 'blob' }

/** `snapstore ls WHAT STORE`: lists snapshots, configs, blobs, tags or origins. */
export async function ls (what: string, path: string, options: LsOptions): Promise<void> {
  const kind = BLOB_LISTS[what]
  if (kind === undefined && what !== 'tags' && what !== 'origins') {
    throw new UsageError(`Cannot list "${what}": expected one of snapshots, configs, blobs, tags, origins`)
  }
  const out = new LineBuffer()
  await withStore(path, storeInit(options), async (store) => {
    if (kind !== undefined) await listKind(store, kind, options, out)
    else if (what === 'tags') await listTagLines(store, options, out)
    else await listOriginLines(store, options, out)
  })
  await out.flush()
}

async function listKind (store: Store, kind: BlobKind, options: LsOptions, out: LineBuffer): Promise<void> {
  if (options.json !== true && options.long !== true) {
    for await (const id of listBlobIds(store, kind)) await out.push(id)
    return
  }
  if (options.json !== true) await out.push(['id', 'size', 'name', 'added', 'origin', 'tags'].join('\t'))
  for await (const blob of listBlobs(store, kind)) {
    if (options.json === true) {
      await out.push(JSON.stringify({ id: blob.id, kinds: blob.kinds, size: blob.size, name: blob.name ?? null, meta: blob.meta ?? {}, added: isoTime(blob.firstTime), origin: blob.first.origin, seq: blob.first.seq, clock: blob.first.clock, tags: blob.tags }, jsonReplacer))
    } else {
      await out.push([blob.id.toString(), blob.size, blob.name ?? '-', isoTime(blob.firstTime), blob.first.origin, blob.tags.join(',') || '-'].join('\t'))
    }
  }
}

async function listTagLines (store: Store, options: LsOptions, out: LineBuffer): Promise<void> {
  if (options.long === true && options.json !== true) await out.push(['name', 'id', 'clock', 'origin', 'seq'].join('\t'))
  for await (const tag of listTags(store)) {
    if (options.json === true) await out.push(JSON.stringify({ name: tag.name, id: tag.target, clock: tag.position.clock, origin: tag.position.origin, seq: tag.position.seq }, jsonReplacer))
    else if (options.long === true) await out.push([tag.name, tag.target.toString(), tag.position.clock, tag.position.origin, tag.position.seq].join('\t'))
    else await out.push(`${tag.name}\t${tag.target.toString()}`)
  }
}

async function listOriginLines (store: Store, options: LsOptions, out: LineBuffer): Promise<void> {
  if (options.long === true && options.json !== true) await out.push(['origin', 'seq', 'head', 'self'].join('\t'))
  for (const head of await listOrigins(store)) {
    const self = head.origin === store.origin
    if (options.json === true) await out.push(JSON.stringify({ origin: head.origin, seq: head.seq, head: head.head, self }, jsonReplacer))
    else if (options.long === true) await out.push([head.origin, head.seq, head.head.toString(), self ? 'yes' : 'no'].join('\t'))
    else await out.push(`${head.origin}\t${head.seq}`)
  }
}
