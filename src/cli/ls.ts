import { UsageError } from '../errors.ts'
import { listBlobIds, listBlobs, listOrigins, listTags } from '../query.ts'
import { withStore } from '../store.ts'
import { resolveId } from '../resolve.ts'
import { listRuns, parseCondition } from '../runs/query.ts'
import { runJson, runRow } from './run-format.ts'
import { storeInit } from './context.ts'
import { LineBuffer, isoTime, jsonReplacer } from './output.ts'
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
}

const BLOB_LISTS: Record<string, BlobKind> = { snapshots: 'snapshot', configs: 'config', blobs: 'blob' }

/** `snapstore ls WHAT STORE`: lists snapshots, configs, blobs, tags or origins. */
export async function ls (what: string, path: string, options: LsOptions): Promise<void> {
  const kind = BLOB_LISTS[what]
  if (kind === undefined && what !== 'tags' && what !== 'origins' && what !== 'runs') {
    throw new UsageError(`Cannot list "${what}": expected one of snapshots, configs, blobs, runs, tags, origins`)
  }
  const runFilters = options.status !== undefined || options.from !== undefined || options.config !== undefined || options.where.length > 0
  if (what !== 'runs' && runFilters) throw new UsageError('Cannot use --status, --from, --config or --where except with "ls runs"')
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

async function listRunLines (store: Store, options: LsOptions, out: LineBuffer): Promise<void> {
  const filter: RunFilter = { where: options.where.map(parseCondition) }
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
