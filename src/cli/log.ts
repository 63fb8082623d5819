import { BadInputError } from '../errors.ts'
import { iterateLog } from '../log.ts'
import { resolveId } from '../resolve.ts'
import { withStore } from '../store.ts'
import { storeInit } from './context.ts'
import { LineBuffer, isoTime, jsonReplacer } from './output.ts'
import { iterateJournal } from '../merge/journal.ts'
import { eventJson, logLine } from './summary.ts'
import type { LogQuery } from '../log.ts'
import type { EventType } from '../types.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore log`. */
export interface LogOptions extends StoreCommandOptions {
  run?: string
  origin?: string
  type?: EventType
  since?: string
  limit?: string
  merges?: boolean
}

/** `snapstore log STORE`: the audit trail in total order, one line per event. */
export async function log (path: string, options: LogOptions): Promise<void> {
  const query: LogQuery = {}
  if (options.origin !== undefined) query.origin = options.origin.toLowerCase()
  if (options.type !== undefined) query.type = options.type
  if (options.since !== undefined) {
    const since = Date.parse(options.since)
    if (Number.isNaN(since)) throw new BadInputError(`Invalid --since "${options.since}": expected an ISO 8601 time such as 2026-11-22 or 2026-11-22T10:00:00Z`)
    query.since = since
  }
  if (options.limit !== undefined) {
    const limit = Number(options.limit)
    if (!Number.isInteger(limit) || limit < 0) throw new BadInputError(`Invalid --limit "${options.limit}": expected a non-negative integer`)
    query.limit = limit
  }
  const out = new LineBuffer()
  await withStore(path, storeInit(options), async (store) => {
    if (options.merges === true) {
      for await (const entry of iterateJournal(store)) {
        if (query.since !== undefined && entry.time < query.since) continue
        if (options.json === true) await out.push(JSON.stringify(entry))
        else await out.push(`${isoTime(entry.time)} merged ${entry.events} events, ${entry.blobs} blobs (${entry.bytes} bytes) from ${entry.source}`)
      }
      return
    }
    if (options.run !== undefined) query.run = await resolveId(store, options.run, 'event')
    for await (const stored of iterateLog(store, query)) {
      if (options.json === true) await out.push(JSON.stringify(eventJson(stored), jsonReplacer))
      else await out.push(logLine(stored))
    }
  })
  await out.flush()
}
