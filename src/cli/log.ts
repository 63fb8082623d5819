import { BadInputError, UsageError } from '../errors.ts'
import { requireRun } from '../runs/query.ts'
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

// A date, optionally with a time (minutes, seconds, fractions) and a zone: what --since accepts.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/

/**
 * The time `--since` names, in ms since the epoch: UTC unless it gives a zone (as `log` prints times), and a
 * date that exists (2026-02-30 is refused, not read as March 2).
 */
function parseSince (text: string): number {
  const bad = new BadInputError(`Invalid --since "${text}": expected an ISO 8601 time such as 2026-11-22 or 2026-11-22T10:00:00Z (UTC unless a zone is given)`)
  const match = ISO_8601.exec(text)
  if (match === null) throw bad
  const zoned = match[4] !== undefined
  const since = Date.parse(match[1] === undefined || zoned ? text : `${text.replace(' ', 'T')}Z`)
  const [year, month, day] = text.slice(0, 10).split('-').map(Number) as [number, number, number]
  const date = new Date(Date.UTC(year, month - 1, day))
  if (Number.isNaN(since) || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) throw bad
  return since
}

/** `snapstore log STORE`: the audit trail in total order, one line per event. */
export async function log (path: string, options: LogOptions): Promise<void> {
  const query: LogQuery = {}
  if (options.origin !== undefined) query.origin = options.origin.toLowerCase()
  if (options.type !== undefined) query.type = options.type
  if (options.since !== undefined) query.since = parseSince(options.since)
  if (options.limit !== undefined) {
    if (!/^\d+$/.test(options.limit)) throw new BadInputError(`Invalid --limit "${options.limit}": expected a non-negative integer`)
    query.limit = Number(options.limit)
  }
  if (options.merges === true) {
    const eventFilter = (['run', 'origin', 'type'] as const).find((name) => options[name] !== undefined)
    if (eventFilter !== undefined) throw new UsageError(`Cannot use --${eventFilter} with --merges: merges are not events (only --since and --limit apply)`)
  }
  const out = new LineBuffer()
  await withStore(path, storeInit(options), async (store) => {
    if (options.merges === true) {
      let left = query.limit ?? Infinity
      for await (const entry of iterateJournal(store)) {
        if (left <= 0) break
        if (query.since !== undefined && entry.time < query.since) continue
        if (options.json === true) await out.push(JSON.stringify(entry))
        else await out.push(`${isoTime(entry.time)} merged ${entry.events} events, ${entry.blobs} blobs (${entry.bytes} bytes) from ${entry.source}`)
        left--
      }
      return
    }
    if (options.run !== undefined) query.run = (await requireRun(store, await resolveId(store, options.run, 'event'))).id
    for await (const stored of iterateLog(store, query)) {
      if (options.json === true) await out.push(JSON.stringify(eventJson(stored), jsonReplacer))
      else await out.push(logLine(stored))
    }
  })
  await out.flush()
}
