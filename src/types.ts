import type { CID } from 'multiformats/cid'

/** What a blob is to the user. */
export type BlobKind = 'snapshot' | 'config' | 'blob'

/** The kinds, in the order the CLI lists them. */
export type EventType = 'blob.add' | 'run.start' | 'run.checkpoint' | 'run.end' | 'run.fail' | 'tag.set'

/** A CBOR-compatible value: what event bodies and params may hold. */
export type Value = null | boolean | number | string | Uint8Array | CID | Value[] | { [key: string]: Value }

/** Body of `blob.add`: a blob entered the store as a snapshot, config or plain blob. */
export interface BlobAddBody {
  blob: CID
  kind: BlobKind
  size: number
  name?: string
  meta?: Record<string, string>
}

/** Body of `run.start`. */
export interface RunStartBody {
  from?: CID
  config?: CID
  params: Record<string, Value>
  seed: string
  key: string
  command?: string[]
  label?: string
  continues?: CID
  trajectory?: string
  batch?: string
  previousBatch?: string | null
  pid?: number
  /** The batch job the run ran in, when a scheduler started it. */
  scheduler?: RunScheduler
}

/** A scheduler's job: `{name: 'slurm', job: '1234_5'}` for task 5 of Slurm job array 1234. */
export interface RunScheduler {
  name: string
  job: string
}

/** Body of `run.checkpoint`. */
export interface RunCheckpointBody {
  run: CID
  snapshot: CID
  cycle?: number
}

/** Body of `run.end`. */
export interface RunEndBody {
  run: CID
  snapshot: CID
  cycle?: number
}

/** Body of `run.fail`. */
export interface RunFailBody {
  run: CID
  reason: string
  exitCode?: number
  signal?: string
  lastCheckpoint?: CID
}

/** Body of `tag.set`: a name now points at a blob or run. */
export interface TagSetBody {
  name: string
  target: CID
}

/** Fields every event carries, whatever its type. */
export interface EventHeader {
  v: 1
  origin: string
  seq: number
  prev: CID | null
  clock: number
  time: number
  host: string
}

/** One immutable record of the log, discriminated on `type`. */
export type SnapEvent =
  | (EventHeader & { type: 'blob.add', body: BlobAddBody })
  | (EventHeader & { type: 'run.start', body: RunStartBody })
  | (EventHeader & { type: 'run.checkpoint', body: RunCheckpointBody })
  | (EventHeader & { type: 'run.end', body: RunEndBody })
  | (EventHeader & { type: 'run.fail', body: RunFailBody })
  | (EventHeader & { type: 'tag.set', body: TagSetBody })

/** An event before the log gives it origin, seq, prev, clock and time. */
export type EventDraft = { [T in SnapEvent['type']]: { type: T, body: Extract<SnapEvent, { type: T }>['body'] } }[SnapEvent['type']]

/** An event together with its id and stored bytes. */
export interface StoredEvent {
  id: CID
  bytes: Uint8Array
  event: SnapEvent
}

/** Position of an event in the total order: (clock, origin, seq). */
export interface EventPosition {
  clock: number
  origin: string
  seq: number
}

/** A progress report from a long operation; `type` is namespaced, e.g. `snapstore:verify:blob`. */
export interface ProgressEvent {
  type: string
  done: number
  total?: number
  bytes?: number
}

/** Options shared by every operation that may take long. */
export interface OperationOptions {
  signal?: AbortSignal
  onProgress?: (event: ProgressEvent) => void
}

/** What the store knows of one origin: its highest seq and the id of that event. */
export interface OriginHead {
  origin: string
  seq: number
  head: CID
}

/** A blob as the projections describe it. */
export interface BlobInfo {
  id: CID
  kinds: BlobKind[]
  size: number
  name?: string
  meta?: Record<string, string>
  first: EventPosition
  firstTime: number
  tags: string[]
}

/** A tag as the projections describe it. */
export interface TagInfo {
  name: string
  target: CID
  position: EventPosition
}
