import { createHash } from 'node:crypto'
import { putBlob } from '../ingest/put-blob.ts'
import { decode } from '../codec.ts'
import { BadInputError } from '../errors.ts'
import { RAW, cidFromDigest, cidFromHex, digestHex } from '../ids.ts'
import { appendEvents } from '../log.ts'
import { WEPY_MD5_META, aliasKey, aliasRange } from '../projections/aliases.ts'
import { runsWithKey } from '../runs/query.ts'
import { runKey } from '../runs/run-key.ts'
import { tagEventIfNeeded } from '../tag.ts'
import { readOrchestrator } from './orchestrator-db.ts'
import type { CID } from 'multiformats/cid'
import type { PutBlobResult } from '../ingest/put-blob.ts'
import type { DraftSource } from '../log.ts'
import type { BlobRecordProjection } from '../projections/blobs.ts'
import type { Store } from '../store.ts'
import type { BlobKind, OperationOptions } from '../types.ts'
import type { WepyBlobRow, WepyMetaRow, WepyRunRow } from './orchestrator-db.ts'

// Snapshots and configurations are stored this many ahead of the one being recorded.
const PUTS_AHEAD = 7

/** What one import recorded: only what was new to the store is counted. */
export interface WepyImportResult {
  snapshots: number
  configs: number
  runs: number
  tags: number
}

/** Options for importing a wepy orchestrator database. */
export interface WepyImportOptions extends OperationOptions {
  /** Sync the recorded events to disk before resolving. @default true */
  sync?: boolean
}

/** The label every run imported from wepy carries. */
export const WEPY_RUN_LABEL = 'wepy'

/** The prefix of the tags that the meta defaults of a wepy database become. */
export const WEPY_TAG_PREFIX = 'wepy.'

/**
 * Brings a wepy orchestrator database in: snapshots and configurations as blobs with their stored bytes
 * kept exactly and their wepy MD5 as an alias, runs as completed runs, meta defaults as tags. Every event
 * is a function of the database's rows alone, and what the store already holds is skipped, so importing
 * again records nothing. Everything is checked before anything is written; the events are appended in
 * one call (consecutive atomic batches: an import cut short is completed by the next).
 * @example
 * const { snapshots, runs } = await importWepy(store, 'master.orch.sqlite')
 */
export async function importWepy (store: Store, path: string, options: WepyImportOptions = {}): Promise<WepyImportResult> {
  const orchestrator = await readOrchestrator(path)
  const ids = new Map<string, CID>()
  for (const row of [...orchestrator.snapshots, ...orchestrator.configs]) ids.set(row.md5, blobIdOf(row.bytes))
  const lookUp = async (md5: string, what: string): Promise<CID> => {
    const id = ids.get(md5) ?? await aliasedBlob(store, md5)
    if (id === undefined) throw new BadInputError(`Cannot import "${path}": ${what} ${md5} is neither in the database nor in the store`)
    return id
  }
  // Every reference is resolved before any byte is written.
  const runs = await Promise.all(orchestrator.runs.map(async (row) => ({
    row, from: await lookUp(row.start, 'start snapshot'), end: await lookUp(row.end, 'end snapshot'), config: await lookUp(row.config, 'configuration')
  })))
  const references = await Promise.all(orchestrator.meta.filter(isReference).map(async (row) => ({ row, target: await lookUp(String(row.value), row.key) })))

  const result: WepyImportResult = { snapshots: 0, configs: 0, runs: 0, tags: 0 }
  const drafts: DraftSource[] = []
  const total = orchestrator.snapshots.length + orchestrator.configs.length
  let stored = 0
  // Rows are stored up to PUTS_AHEAD ahead of the one being looked at, so their writes and syncs overlap
  // (chunks they share are still written once); then the store is asked once which are imported already,
  // and events are drafted in row order.
  const storeRows = async (rows: WepyBlobRow[], kind: BlobKind): Promise<number> => {
    const puts: Array<Promise<PutBlobResult>> = []
    const results: PutBlobResult[] = []
    try {
      for (let i = 0; i < rows.length; i++) {
        for (let j = puts.length; j < Math.min(rows.length, i + 1 + PUTS_AHEAD); j++) {
          puts.push(putBlob(store, rows[j]!.bytes))
          puts[j]!.catch(() => undefined)
        }
        options.signal?.throwIfAborted()
        results.push(await puts[i]!)
        options.onProgress?.({ type: 'snapstore:import:blob', done: ++stored, total })
      }
    } finally {
      // The store is not given back under rows still being stored.
      await Promise.allSettled(puts)
    }
    const imported = await importedAlready(store, kind, rows.map((row, i) => ({ md5: row.md5, id: results[i]!.id })))
    let recorded = 0
    for (const [i, row] of rows.entries()) {
      if (imported[i] === true) continue
      const { id, size } = results[i]!
      drafts.push({ type: 'blob.add', body: { blob: id, kind, size, meta: { [WEPY_MD5_META]: row.md5 } } })
      recorded++
    }
    return recorded
  }
  result.snapshots = await storeRows(orchestrator.snapshots, 'snapshot')
  result.configs = await storeRows(orchestrator.configs, 'config')

  const tagged: Array<{ name: string, target: CID }> = references.map(({ row, target }) => ({ name: tagName(row.key), target }))
  for (const row of orchestrator.meta.filter((row) => !isReference(row))) tagged.push({ name: tagName(row.key), target: await storeMetaValue(store, row, drafts) })
  for (const { name, target } of tagged) {
    const draft = await tagEventIfNeeded(store, name, target)
    if (draft === undefined) continue
    drafts.push(draft)
    result.tags++
  }

  for (const { row, from, end, config } of runs) {
    if (await addRun(store, row, from, end, config, drafts)) result.runs++
  }
  if (drafts.length > 0) await appendEvents(store, drafts, { sync: options.sync ?? true })
  return result
}

function blobIdOf (bytes: Uint8Array): CID {
  return cidFromDigest(RAW, createHash('sha256').update(bytes).digest())
}

/** A meta row whose value is the MD5 of a snapshot or configuration (its key ends in `_hash`), not a value of its own. */
function isReference (row: WepyMetaRow): boolean {
  return row.key.endsWith('_hash') && typeof row.value === 'string'
}

/** The tag a meta default becomes: `default_snapshot_hash` → `wepy.default_snapshot`. */
function tagName (key: string): string {
  return WEPY_TAG_PREFIX + key.replace(/_hash$/, '').replace(/\s/g, '_')
}

/** The blob recorded with this wepy MD5, when exactly one is. */
async function aliasedBlob (store: Store, md5: string): Promise<CID | undefined> {
  const found: CID[] = []
  for await (const key of store.sub.aliases.keys(aliasRange(md5))) found.push(cidFromHex(RAW, key.slice(key.lastIndexOf(':') + 1)))
  return found.length === 1 ? found[0] : undefined
}

/** For each blob, true when the store already holds it as this kind with this MD5 alias: one lookup per keyspace for all. */
async function importedAlready (store: Store, kind: BlobKind, blobs: ReadonlyArray<{ md5: string, id: CID }>): Promise<boolean[]> {
  if (blobs.length === 0) return []
  const digests = blobs.map(({ id }) => digestHex(id))
  const aliases = await store.sub.aliases.getMany(blobs.map(({ md5 }, i) => aliasKey(md5, digests[i]!)))
  const projections = await store.sub.blobs.getMany(digests)
  return blobs.map((_, i) => {
    const projection = projections[i]
    return aliases[i] !== undefined && projection !== undefined && decode<BlobRecordProjection>(projection).kinds[kind] !== undefined
  })
}

/** Stores a meta value of its own (a pickled object) as a plain blob named after its key. */
async function storeMetaValue (store: Store, row: WepyMetaRow, drafts: DraftSource[]): Promise<CID> {
  const bytes = typeof row.value === 'string' ? new TextEncoder().encode(row.value) : row.value
  const { id, size } = await putBlob(store, bytes)
  const projection = await store.sub.blobs.get(digestHex(id))
  if (projection === undefined || decode<BlobRecordProjection>(projection).kinds.blob === undefined) {
    drafts.push({ type: 'blob.add', body: { blob: id, kind: 'blob', size, name: row.key } })
  }
  return id
}

/**
 * Queues a run row as a completed run (its start, then its end), unless a completed run with its key exists.
 * Its seed stands for what wepy does not record: the end snapshot's MD5, so that runs from one start
 * and config that ended apart keep apart keys, as wepy's own key (start, end) does.
 */
async function addRun (store: Store, row: WepyRunRow, from: CID, end: CID, config: CID, drafts: DraftSource[]): Promise<boolean> {
  const seed = `wepy:${row.end}`
  const key = runKey({ from, config, params: {}, seed, command: [] })
  const runs = await runsWithKey(store, key)
  if (runs.some((run) => run.status === 'completed')) return false
  // An import cut short between a run's start and its end (they can fall in consecutive batches) left the
  // start alone: the run is ended now, not started again.
  const started = runs.find((run) => run.status === 'running' && run.start.label === WEPY_RUN_LABEL)
  if (started !== undefined) {
    drafts.push({ type: 'run.end', body: { run: started.id, snapshot: end, cycle: row.lastCycle } })
    return true
  }
  const index = drafts.length
  drafts.push({ type: 'run.start', body: { from, config, params: {}, seed, key, label: WEPY_RUN_LABEL } })
  drafts.push((earlier) => ({ type: 'run.end', body: { run: earlier[index]!.id, snapshot: end, cycle: row.lastCycle } }))
  return true
}
