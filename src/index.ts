/**
 * snapstore: the history of long simulations, kept as an append-only, hash-chained log of run and
 * snapshot events over a content-addressed blob store in LevelDB, mergeable across hosts without locks.
 *
 * @example
 * ```ts
 * import { initStore, addBlob, readBlob, listBlobs, verifyStore, closeStore } from 'snapstore'
 *
 * const store = await initStore('./my-store')
 * const { id } = await addBlob(store, 'snapshot', { path: 'state-0001.bin' }, { name: 'equilibrated' })
 * for await (const blob of listBlobs(store, 'snapshot')) console.log(blob.id.toString(), blob.size)
 * for await (const bytes of readBlob(store, id)) process.stdout.write(bytes)
 * console.log((await verifyStore(store)).ok)
 * await closeStore(store)
 * ```
 * @packageDocumentation
 */

export { FORMAT_VERSION, closeStore, initStore, openStore, withStore } from './store.ts'
export { CHUNKING, chunkEnds } from './chunking/cdc.ts'
export { addBlob } from './add.ts'
export { blobSize, hasBlob, readBlob, readBlobBytes } from './blobs.ts'
export { putBlob, putFile } from './ingest/put-blob.ts'
export { appendEvents, iterateLog, iterateOrigin, listHeads, readEventAt, readEventById } from './log.ts'
export { chunkUsers, describeBlob, listBlobIds, listBlobs, listTags, sharedBytes, sharedBytesByBlob, showItem, storeStats } from './query.ts'
export { setTag } from './tag.ts'
export { exportBlobs } from './export-dir.ts'
export { SHA256SUMS_FILE, exportFileName, sha256sumLine } from './sha256sums.ts'
export { platformFingerprint } from './fingerprint.ts'
export { WEPY_RUN_LABEL, WEPY_TAG_PREFIX, importWepy } from './wepy/import.ts'
export { WEPY_MD5_META } from './projections/aliases.ts'
export { resolveId, MIN_PREFIX } from './resolve.ts'
export { verifyStore } from './verify.ts'
export { reindex } from './rebuild.ts'
export { mergeStores } from './merge/merge-stores.ts'
export { iterateJournal } from './merge/journal.ts'
export { exportCar } from './car.ts'
export { openCarSource } from './car-source.ts'
export { serveStore, DEFAULT_PORT } from './sync/server.ts'
export { openHttpSource } from './sync/http-source.ts'
export { pushStore } from './sync/push.ts'
export { runSegment } from './runs/segment.ts'
export { runSegments } from './runs/segments.ts'
export { runSweep, factorial } from './runs/sweep.ts'
export { describeRun, listRuns } from './runs/query.ts'
export { parseCondition } from './conditions.ts'
export { lineageOf } from './runs/lineage.ts'
export { buildGraph, renderGraph } from './runs/graph.ts'
export { makeSeed, makeBatchConfig, makeTrajectoryConfig } from './runs/batches.ts'
export { runKey, deriveSeed } from './runs/run-key.ts'
export { eventId, digestHex, parseCid, DAG_CBOR, RAW } from './ids.ts'
export { sealEvent, openEvent } from './event-format.ts'
export * as codec from './codec.ts'
export * from './errors.ts'
export type { Store, StoreInit } from './store.ts'
export type { AddOptions, AddResult } from './add.ts'
export type { BlobRecord } from './blobs.ts'
export type { ChunkingParams } from './chunking/cdc.ts'
export type { BlobSource } from './ingest/fill.ts'
export type { PutBlobResult } from './ingest/put-blob.ts'
export type { AppendOptions, DraftSource, LogQuery } from './log.ts'
export type { ShownItem, StoreStats } from './query.ts'
export type { ExportedBlob } from './export-dir.ts'
export type { WepyImportOptions, WepyImportResult } from './wepy/import.ts'
export type { IdScope } from './resolve.ts'
export type { VerifyOptions, VerifyReport } from './verify.ts'
export type { MergeOptions } from './merge/merge-stores.ts'
export type { MergeResult } from './merge/engine.ts'
export type { MergeSource } from './merge/source.ts'
export type { JournalEntry } from './merge/journal.ts'
export type { ExportResult } from './car.ts'
export type { ServeOptions, SyncServer } from './sync/server.ts'
export type { HttpSourceOptions } from './sync/http-source.ts'
export type { PushOptions, PushResult } from './sync/push.ts'
export type { SegmentResult, SegmentSpec } from './runs/segment.ts'
export type { SegmentsPlan } from './runs/segments.ts'
export type { SweepRow } from './runs/sweep.ts'
export type { RunFilter, RunInfo } from './runs/query.ts'
export type { ConditionField, ParamCondition } from './conditions.ts'
export type { LineageStep } from './runs/lineage.ts'
export type { GraphEdge, GraphFormat, GraphNode, LineageGraph } from './runs/graph.ts'
export type { BatchConfig, TrajectoryConfig } from './runs/batches.ts'
export type { RunKeyParts } from './runs/run-key.ts'
export type { RunProjection, RunStatus } from './projections/runs.ts'
export type * from './types.ts'
