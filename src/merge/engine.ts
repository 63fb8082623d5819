import { decode } from '../codec.ts'
import { CorruptError, ForkError } from '../errors.ts'
import { EVENTS_PER_BATCH, EventCommitter, listHeads, readEventAt } from '../log.ts'
import { exclusive } from '../store.ts'
import { hasChunks } from '../chunks.ts'
import { checkedEvents } from './check-events.ts'
import { storedEventOf } from './opened-page.ts'
import { IncomingReferences } from './references.ts'
import { blobPutsEnded, withoutBlobPuts } from '../blob-writers.ts'
import { copyBlobs, keepsVerifiedCopies, uncopyBlobs } from './copy-blobs.ts'
import { journalOp } from './journal.ts'
import { HeldEvents } from './held-events.ts'
import type { Store } from '../store.ts'
import type { OperationOptions, OriginHead, StoredEvent } from '../types.ts'
import type { BlobRecord } from '../blobs.ts'
import type { CopiedBlobs } from './copy-blobs.ts'
import type { CheckedEvent } from './opened-page.ts'
import type { OriginRange } from './check-events.ts'
import type { MergeSource } from './source.ts'

/** What one merge copied. */
export interface MergeResult {
  source: string
  events: number
  blobs: number
  /** Bytes of chunks copied (chunks the destination already held are not counted). */
  bytes: number
  /** True when nothing was copied because only a plan was asked for. */
  dryRun?: boolean
}

/** Options of a merge. */
export interface MergeFromOptions extends OperationOptions {
  /** Check everything and say what would be copied, without writing. */
  dryRun?: boolean
}

// Incoming events are checked against the destination this many at a time (one lookup per keyspace each).
const CHECK_GROUP = 1000
// Up to this many bytes of checked events (about 400,000 events) are held between the checking pass and the writing pass.
const HOLD_BYTES = 128 * 1024 * 1024

/**
 * Copies into `dest` every event of `source` above its version vector, with every blob they name that
 * `dest` lacks, after checking everything: ids against bytes, chains, forks, digests, references.
 * A source that fails a check leaves `dest` as it was. Blobs are written before the events that name
 * them, and events in total order in bounded batches, so a merge killed at any moment leaves whole
 * events only, and running it again completes it.
 */
export async function mergeFrom (dest: Store, source: MergeSource, options: MergeFromOptions = {}): Promise<MergeResult> {
  return await exclusive(dest, async () => {
    const putsEnded = blobPutsEnded(dest)
    const sourceHeads = await source.heads()
    const before = new Map((await listHeads(dest)).map((head) => [head.origin, head]))
    const ranges = await planRanges(dest, source, sourceHeads, before)

    // Pass 1: check every event and reference before anything is written; note the blobs to copy.
    const incoming = new IncomingReferences(dest, source)
    let group: CheckedEvent[] = []
    // The checked events themselves, within a budget: pass 3 then writes them without reading and
    // checking them again.
    let held: HeldEvents | undefined = new HeldEvents(HOLD_BYTES)
    for await (const page of checkedEvents(source, ranges, EVENTS_PER_BATCH)) {
      options.signal?.throwIfAborted()
      for (const checked of page) {
        if (held?.hold(checked) === false) held = undefined
        group.push(checked)
      }
      if (group.length >= CHECK_GROUP) {
        await incoming.note(group)
        group = []
      }
    }
    await incoming.note(group)
    const { needed, sizes } = incoming
    if (options.dryRun === true) return await planOnly(dest, source, incoming.events.size, needed)

    // Pass 2: blobs, each verified whole; taken back if any fails, except when the peer went away (E_NET)
    // or the user interrupted: what was verified stays, so running the merge again copies only the rest.
    // Blob puts in this process wait meanwhile: taking back must not take their bytes or chunk rows.
    const copied: CopiedBlobs = { blobs: [], chunks: [], bytes: 0 }
    await withoutBlobPuts(dest, async () => {
      // Only when a blob put of this process ended since the checking pass began can it have stored one of them.
      const lacking = blobPutsEnded(dest) === putsEnded ? needed : await incoming.stillNeeded()
      const packsEnd = await dest.packs.end()
      try {
        await copyBlobs(dest, source, lacking, sizes, copied, options)
      } catch (err) {
        if (!keepsVerifiedCopies(err)) await uncopyBlobs(dest, copied, packsEnd)
        throw err
      }
    })

    // Pass 3: events in total order, in bounded atomic batches with their projection updates,
    // each prepared while the one before it is written.
    const committer = new EventCommitter(dest)
    // The last page is written with the journal entry, in the last batch.
    let batch: StoredEvent[] = []
    let events = 0
    try {
      for await (const page of held?.pages(EVENTS_PER_BATCH) ?? decodedPages(checkedEvents(source, ranges, EVENTS_PER_BATCH))) {
        if (batch.length > 0) {
          await committer.commit(batch, false)
          events += batch.length
          options.onProgress?.({ type: 'snapstore:merge:event', done: events, total: incoming.events.size })
        }
        batch = page
      }
      events += batch.length
      const after = Object.fromEntries(sourceHeads.map((head) => [head.origin, Math.max(head.seq, before.get(head.origin)?.seq ?? 0)]))
      const entry = journalOp({
        time: Date.now(),
        source: source.journalName ?? source.name,
        before: Object.fromEntries(sourceHeads.map((head) => [head.origin, before.get(head.origin)?.seq ?? 0])),
        after,
        events,
        blobs: copied.blobs.length,
        bytes: copied.bytes
      })
      await committer.commit(batch, true, [entry])
    } finally {
      // The store is not given back while a batch is still being written.
      await committer.settled().catch(() => {})
    }
    await committer.settled()
    return { source: source.name, events, blobs: copied.blobs.length, bytes: copied.bytes }
  })
}

/** Pages of checked events, each decoded again. */
async function * decodedPages (pages: AsyncIterable<CheckedEvent[]>): AsyncGenerator<StoredEvent[]> {
  for await (const page of pages) yield page.map(storedEventOf)
}

/** What a merge would copy, without copying: events, blobs, and the bytes of chunks the destination lacks. */
async function planOnly (dest: Store, source: MergeSource, events: number, needed: ReadonlySet<string>): Promise<MergeResult> {
  let bytes = 0
  const counted = new Set<string>()
  for (const hex of needed) {
    const record = await source.blobRecord(hex)
    if (record === undefined) throw new CorruptError(`Cannot merge from ${source.name}: it lacks blob ${hex}, which its events name`)
    const { chunks } = decode<BlobRecord>(record)
    const hexes = chunks.map(([digest]) => Buffer.from(digest).toString('hex'))
    const held = await hasChunks(dest, hexes)
    chunks.forEach(([, size], i) => {
      if (counted.has(hexes[i]!) || held[i] === true) return
      counted.add(hexes[i]!)
      bytes += size
    })
  }
  return { source: source.name, events, blobs: needed.size, bytes, dryRun: true }
}

/** Compares version vectors and head ids: what to copy per origin, and whether the stores fork. */
async function planRanges (dest: Store, source: MergeSource, sourceHeads: readonly OriginHead[], before: Map<string, OriginHead>): Promise<OriginRange[]> {
  const ranges: OriginRange[] = []
  for (const head of sourceHeads) {
    const mine = before.get(head.origin)
    const have = mine?.seq ?? 0
    if (head.seq <= have) {
      const ours = head.seq === have ? mine!.head : (await readEventAt(dest, head.origin, head.seq))?.id
      if (ours === undefined || !ours.equals(head.head)) {
        throw new ForkError(`Cannot merge from ${source.name}: origin ${head.origin} forks at seq ${head.seq}: the stores hold different events there`,
          { details: { origin: head.origin, seq: head.seq } })
      }
      continue
    }
    const prevEvent = have === 0 ? undefined : await readEventAt(dest, head.origin, have)
    ranges.push({ origin: head.origin, from: have + 1, to: head.seq, head: head.head, prev: mine?.head ?? null, prevClock: prevEvent?.event.clock ?? 0 })
  }
  return ranges
}
