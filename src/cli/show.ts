import { digestHex } from '../ids.ts'
import { showItem, storeStats } from '../query.ts'
import { resolveId } from '../resolve.ts'
import { FORMAT_VERSION, withStore } from '../store.ts'
import { storeInit } from './context.ts'
import { humanBytes, isoTime, jsonReplacer, writeJson, writeLine } from './output.ts'
import { eventJson, summarize } from './summary.ts'
import type { ShownItem, StoreStats } from '../query.ts'
import type { StoreCommandOptions } from './context.ts'

/** `snapstore show STORE [ID]`: describes a blob or event, or (no id) the store's totals. */
export async function show (path: string, idText: string | undefined, options: StoreCommandOptions): Promise<void> {
  await withStore(path, storeInit(options), async (store) => {
    if (idText === undefined) {
      const stats = await storeStats(store)
      if (options.json === true) await writeJson({ path: store.path, format: FORMAT_VERSION, ...stats })
      else await writeLine(describeStats(store.path, stats))
      return
    }
    const item = await showItem(store, await resolveId(store, idText, 'any'))
    if (options.json === true) await writeJson(toJson(item))
    else await writeLine(describeItem(item))
  })
}

function describeStats (path: string, stats: StoreStats): string {
  return table([
    ['store', path],
    ['format', String(FORMAT_VERSION)],
    ['origin', stats.origin],
    ['origins', String(stats.origins)],
    ['events', String(stats.events)],
    ['blobs', String(stats.blobs)],
    ['logical', `${humanBytes(stats.logicalBytes)} (${stats.logicalBytes} bytes)`],
    ['stored', `${humanBytes(stats.storedBytes)} (${stats.storedBytes} bytes)`],
    ['dedup', `${stats.dedupRatio.toFixed(2)}x`]
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
  const { id, blob, record } = item
  const rows: Array<[string, string]> = [
    ['blob', id.toString()],
    ['sha256', digestHex(id)],
    ['kinds', blob?.kinds.join(', ') ?? '- (stored, but no event names it)'],
    ['size', `${humanBytes(record.size)} (${record.size} bytes)`],
    ['chunks', String(record.chunks.length)]
  ]
  if (blob !== undefined) {
    rows.push(['name', blob.name ?? '-'])
    for (const [key, value] of Object.entries(blob.meta ?? {})) rows.push([`meta.${key}`, value])
    rows.push(['tags', blob.tags.join(', ') || '-'])
    rows.push(['added', `${isoTime(blob.firstTime)} by ${blob.first.origin}:${blob.first.seq}`])
  }
  return table(rows)
}

function toJson (item: ShownItem): unknown {
  if (item.type === 'event') return { item: 'event', ...eventJson(item.event) }
  return { item: 'blob', ...item.blob, id: item.id, sha256: digestHex(item.id), size: item.record.size, chunks: item.record.chunks.length }
}

function table (rows: ReadonlyArray<[string, string]>): string {
  const width = Math.max(...rows.map(([key]) => key.length))
  return rows.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join('\n')
}
