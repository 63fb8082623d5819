import { CID } from 'multiformats/cid'
import { conditionsHold, parseCondition } from '../conditions.ts'
import { UsageError } from '../errors.ts'
import { digestHex } from '../ids.ts'
import { exportFileName, sha256sumLine } from '../sha256sums.ts'
import { listBlobIdPages, listBlobs, listOrigins, listTags, sharedBytesByBlob } from '../query.ts'
import { withStore } from '../store.ts'
import { resolveId } from '../resolve.ts'
import { listRuns } from '../runs/query.ts'
import { runJson, runRow } from './run-format.ts'
import { storeInit } from './context.ts'
import { LineBuffer, field, isoTime, jsonReplacer } from './output.ts'
import type { Store } from '../store.ts'
import type { BlobKind } from '../types.ts'
import type { StoreCommandOptions } from './context.ts'
import type { RunStatus } from '../projections/runs.ts'
import type { RunFilter } from '../runs/query.ts'

/** Options of `snapstore ls`. */
export interface LsOptions extends StoreCommandOptions {
  long?: boolean
  status?: RunStatus | 'stale'
  from?: string
  config?: string
  where: string[]
  sha256sums?: boolean
}

const BLOB_LISTS: Record<string, BlobKind> = { snapshots: 'snapshot', configs: 'config', blobs: 'blob' }

/** `snapstore ls WHAT STORE`: lists snapshots, configs, blobs, runs, tags or origins (blobs also as `sha256sum -c` lines). */
export async function ls (what: string, path: string, options: LsOptions): Promise<void> {
  const kind = BLOB_LISTS[what]
  if (kind === undefined && what !== 'tags' && what !== 'origins' && what !== 'runs') {
    throw new UsageError(`Cannot list "${what}": expected one of snapshots, configs, blobs, runs, tags, origins`)
  }
  const runFilters = options.status !== undefined || options.from !== undefined || options.config !== undefined
  if (what !== 'runs' && runFilters) throw new UsageError('Cannot use --status, --from or --config except with "ls runs"')
  if (kind === undefined && what !== 'runs' && options.where.length > 0) throw new UsageError('Cannot use --where except with "ls runs", "ls snapshots", "ls configs" or "ls blobs"')
  if (options.sha256sums === true && (kind === undefined || options.long === true)) throw new UsageError('Cannot use --sha256sums except with "ls snapshots", "ls configs" or "ls blobs", and not with --long')
  const out = new LineBuffer()
  await withStore(path, storeInit(options), async (store) => {
    if (kind !== undefined) await listKind(store, kind, options, out)
    else if (what === 'runs') await listRunLines(store, options, out)
    else if (what === 'tags') await listTagLines(store, options, out)
    else await listOriginLines(store, options, out)
  })
  await out.flush()
}

async function listKind (store: Store, kind: BlobKind, options: LsOptions, out: LineBuffer): Promise<void> {
  const where = options.where.map((text) => parseCondition(text, 'meta'))
  if (options.json !== true && options.long !== true && where.length === 0) {
    for await (const ids of listBlobIdPages(store, kind)) await out.pushAll(options.sha256sums === true ? ids.map((id) => sha256sumLine(CID.parse(id))) : ids)
    return
  }
  if (options.json !== true && options.long === true) await out.push(['id', 'size', 'name', 'added', 'origin', 'tags', 'shared'].join('\t'))
  // Shared bytes need every blob's chunks: two passes over the blob records, only for a long listing.
  const shared = options.long === true ? await sharedBytesByBlob(store) : undefined
  for await (const blob of listBlobs(store, kind)) {
    if (!conditionsHold(blob.meta ?? {}, where)) continue
    if (options.sha256sums === true) {
      await out.push(options.json === true ? JSON.stringify({ sha256: digestHex(blob.id), file: exportFileName(blob.id) }) : sha256sumLine(blob.id))
    } else if (options.long !== true && options.json !== true) {
      await out.push(blob.id.toString())
    } else if (options.json === true) {
      const json = { id: blob.id, kinds: blob.kinds, size: blob.size, name: blob.name ?? null, meta: blob.meta ?? {}, added: isoTime(blob.firstTime), origin: blob.first.origin, seq: blob.first.seq, clock: blob.first.clock, tags: blob.tags }
      await out.push(JSON.stringify(shared === undefined ? json : { ...json, shared: shared.get(digestHex(blob.id)) ?? 0 }, jsonReplacer))
    } else {
      await out.push([blob.id.toString(), blob.size, blob.name === undefined ? '-' : field(blob.name), isoTime(blob.firstTime), blob.first.origin, blob.tags.map(field).join(',') || '-', shared?.get(digestHex(blob.id)) ?? 0].join('\t'))
    }
  }
}

async function listTagLines (store: Store, options: LsOptions, out: LineBuffer): Promise<void> {
  if (options.long === true && options.json !== true) await out.push(['name', 'id', 'clock', 'origin', 'seq'].join('\t'))
  for await (const tag of listTags(store)) {
    if (options.json === true) await out.push(JSON.stringify({ name: tag.name, id: tag.target, clock: tag.position.clock, origin: tag.position.origin, seq: tag.position.seq }, jsonReplacer))
    else if (options.long === true) await out.push([tag.name, tag.target.toString(), tag.position.clock, tag.position.origin, tag.position.seq].join('\t'))
    else await out.push(`${field(tag.name)}\t${tag.target.toString()}`)
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

async function listRunLines (store: Store, options: LsOptions, out: LineBuffer): Promise<void> {
  // Only -l (for cycles) and --json print checkpoints.
  const filter: RunFilter = { where: options.where.map((text) => parseCondition(text, 'params')), checkpoints: options.long === true || options.json === true }
  if (options.status !== undefined) filter.status = options.status
  if (options.from !== undefined) filter.from = await resolveId(store, options.from, 'snapshot')
  if (options.config !== undefined) filter.config = await resolveId(store, options.config, 'config')
  if (options.long === true && options.json !== true) await out.push(['run', 'status', 'from', 'end', 'config', 'cycles', 'host', 'started', 'ended'].join('\t'))
  for await (const run of listRuns(store, filter)) {
    if (options.json === true) await out.push(JSON.stringify(runJson(run), jsonReplacer))
    else if (options.long === true) await out.push(runRow(run).join('\t'))
    else await out.push(run.id.toString())
  }
}
