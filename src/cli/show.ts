import { DAG_CBOR, digestHex } from '../ids.ts'
import { describeRun } from '../runs/query.ts'
import { lineageOf } from '../runs/lineage.ts'
import { runJson } from './run-format.ts'
import { showItem, storeStats } from '../query.ts'
import { resolveId } from '../resolve.ts'
import { withStore } from '../store.ts'
import { storeInit } from './context.ts'
import { field, humanBytes, isoTime, jsonReplacer, writeJson, writeLine } from './output.ts'
import { eventJson, summarize } from './summary.ts'
import { UsageError } from '../errors.ts'
import type { ShownItem, StoreStats } from '../query.ts'
import type { StoreCommandOptions } from './context.ts'
import type { CID } from 'multiformats/cid'
import type { RunInfo } from '../runs/query.ts'
import type { Store } from '../store.ts'

/** `snapstore show STORE [ID]`: describes a blob, run or event, or (no id) the store's totals. */
export async function show (path: string, idText: string | undefined, options: StoreCommandOptions & { lineage?: boolean }): Promise<void> {
  if (options.lineage === true && idText === undefined) throw new UsageError('Cannot show --lineage without an id: give the snapshot whose history to show')
  await withStore(path, storeInit(options), async (store) => {
    if (idText === undefined) {
      const stats = await storeStats(store)
      if (options.json === true) await writeJson({ path: store.path, format: store.format, ...stats })
      else await writeLine(describeStats(store, stats))
      return
    }
    if (options.lineage === true) {
      await showLineage(store, await resolveId(store, idText, 'snapshot'), options)
      return
    }
    const id = await resolveId(store, idText, 'any')
    const run = id.code === DAG_CBOR ? await describeRun(store, id) : undefined
    if (run !== undefined) {
      if (options.json === true) await writeJson(runJson(run))
      else await writeLine(describeRunText(run))
      return
    }
    const item = await showItem(store, id)
    if (options.json === true) await writeJson(toJson(item))
    else await writeLine(describeItem(item))
  })
}

function describeRunText (run: RunInfo): string {
  const rows: Array<[string, string]> = [
    ['run', run.id.toString()],
    ['status', run.stale ? 'running (its wrapper process is gone: resume it)' : run.status],
    ['from', run.start.from?.toString() ?? '-'],
    ['config', run.start.config?.toString() ?? '-'],
    ['params', JSON.stringify(run.start.params)],
    ['seed', run.start.seed],
    ['key', run.start.key],
    ['command', run.start.command?.join(' ') ?? '-'],
    ['host', `${run.host}${run.start.pid === undefined ? '' : ` (pid ${run.start.pid})`}`],
    ...(run.start.scheduler === undefined ? [] : [['job', `${run.start.scheduler.name} ${run.start.scheduler.job}`] as [string, string]]),
    ['started', isoTime(run.started)],
    ['ended', run.ended === undefined ? '-' : isoTime(run.ended)],
    ['end', run.end?.snapshot.toString() ?? '-']
  ]
  for (const field of ['label', 'trajectory', 'batch', 'previousBatch'] as const) {
    const value = run.start[field]
    if (value !== undefined && value !== null) rows.push([field, value])
  }
  if (run.start.continues !== undefined) rows.push(['continues', run.start.continues.toString()])
  for (const next of run.continuedBy) rows.push(['continued by', next.toString()])
  if (run.fail !== undefined) rows.push(['failure', [run.fail.reason, run.fail.exitCode === undefined ? '' : `exit ${run.fail.exitCode}`, run.fail.signal ?? ''].filter(Boolean).join(', ')])
  rows.push(['checkpoints', String(run.checkpoints.length)])
  for (const checkpoint of run.checkpoints) rows.push([`  cycle ${checkpoint.cycle ?? '-'}`, `${checkpoint.snapshot.toString()}  ${isoTime(checkpoint.at.time)}`])
  return table(rows)
}

async function showLineage (store: Store, snapshot: CID, options: StoreCommandOptions): Promise<void> {
  const { root, steps } = await lineageOf(store, snapshot)
  if (options.json === true) {
    await writeJson({ root: root ?? null, steps: steps.map((step) => ({ run: step.run.id, status: step.run.status, from: step.run.start.from ?? null, snapshot: step.snapshot, role: step.role, cycle: step.cycle ?? null, params: step.run.start.params, seed: step.run.start.seed })) })
    return
  }
  const lines = [root === undefined ? '(no start snapshot)' : `${root.toString()}  root`]
  for (const step of steps) {
    const params = Object.entries(step.run.start.params).map(([k, v]) => `${k}=${String(v)}`).join(' ')
    lines.push(`  run ${step.run.id.toString()}  ${step.run.status}  seed ${step.run.start.seed}${params === '' ? '' : `  ${params}`}${step.run.start.continues === undefined ? '' : `  continues ${step.run.start.continues.toString()}`}`)
    lines.push(`${step.snapshot.toString()}  ${step.role === 'end' ? 'end' : `checkpoint${step.cycle === undefined ? '' : ` cycle ${step.cycle}`}`}`)
  }
  await writeLine(lines.join('\n'))
}

function describeStats (store: Store, stats: StoreStats): string {
  return table([
    ['store', store.path],
    ['format', String(store.format)],
    ['origin', stats.origin],
    ['origins', String(stats.origins)],
    ['events', String(stats.events)],
    ['blobs', String(stats.blobs)],
    ['logical', `${humanBytes(stats.logicalBytes)} (${stats.logicalBytes} bytes)`],
    ['stored', `${humanBytes(stats.storedBytes)} (${stats.storedBytes} bytes)`],
    ['dedup', `${stats.dedupRatio.toFixed(2)}x`],
    ['packs', `${humanBytes(stats.packBytes)} (${stats.packBytes} bytes) in ${stats.packs} ${stats.packs === 1 ? 'file' : 'files'}`]
  ])
}

function describeItem (item: ShownItem): string {
  if (item.type === 'event') {
    const { id, event } = item.event
    return table([
      ['event', id.toString()],
      ['type', event.type],
      ['summary', summarize(item.event)],
      ['origin', `${event.origin}:${event.seq}`],
      ['clock', String(event.clock)],
      ['time', isoTime(event.time)],
      ['host', event.host],
      ['prev', event.prev?.toString() ?? '-'],
      ['body', JSON.stringify(event.body, jsonReplacer)]
    ])
  }
  const { id, blob, record, shared } = item
  const rows: Array<[string, string]> = [
    ['blob', id.toString()],
    ['sha256', digestHex(id)],
    ['kinds', blob?.kinds.join(', ') ?? '- (stored, but no event names it)'],
    ['size', `${humanBytes(record.size)} (${record.size} bytes)`],
    ['chunks', String(record.chunks.length)],
    ['shared', `${humanBytes(shared)} (${shared} bytes) also in other blobs`]
  ]
  if (blob !== undefined) {
    rows.push(['name', blob.name === undefined ? '-' : field(blob.name)])
    for (const [key, value] of Object.entries(blob.meta ?? {})) rows.push([`meta.${field(key)}`, field(value)])
    rows.push(['tags', blob.tags.map(field).join(', ') || '-'])
    rows.push(['added', `${isoTime(blob.firstTime)} by ${blob.first.origin}:${blob.first.seq}`])
  }
  return table(rows)
}

function toJson (item: ShownItem): unknown {
  if (item.type === 'event') return { item: 'event', ...eventJson(item.event) }
  return { item: 'blob', ...item.blob, id: item.id, sha256: digestHex(item.id), size: item.record.size, chunks: item.record.chunks.length, shared: item.shared }
}

function table (rows: ReadonlyArray<[string, string]>): string {
  const width = Math.max(...rows.map(([key]) => key.length))
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n')
}
