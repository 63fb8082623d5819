import { encode } from './codec.ts'
import { openEvent } from './event-format.ts'
import { parseEventKey } from './keys.ts'
import { BULK_READ, DERIVED_SUBLEVELS, REINDEXING, exclusive } from './store.ts'
import { EVENTS_PER_BATCH, EventCommitter, syncStore } from './log.ts'
import type { Store } from './store.ts'
import type { OperationOptions, StoredEvent } from './types.ts'

/**
 * Rebuilds every index and projection from the log, with memory bounded whatever its length: every event is
 * read and checked first (a damaged log fails with nothing cleared), then the derived keyspaces are cleared
 * and the events projected again in (origin, seq) order (projections do not depend on delivery order), in
 * batches each prepared while the one before it is written. A note in the metadata says the projections are
 * being rebuilt until they are: a reindex cut short (killed, interrupted) is completed when the store is next opened.
 */
export async function reindex (store: Store, options: OperationOptions = {}): Promise<{ events: number }> {
  const events = await exclusive(store, async () => {
    let total = 0
    for await (const _ of loggedEvents(store, options)) total++
    await store.db.put(`${store.sub.meta.prefix}${REINDEXING}`, encode(true), { sync: true })
    for (const name of DERIVED_SUBLEVELS) await store.sub[name].clear()
    const committer = new EventCommitter(store, Promise.resolve(), true)
    let batch: StoredEvent[] = []
    let done = 0
    try {
      for await (const stored of loggedEvents(store, options)) {
        batch.push(stored)
        if (batch.length < EVENTS_PER_BATCH) continue
        await committer.commit(batch, false)
        done += batch.length
        batch = []
        if (done % 10000 === 0) options.onProgress?.({ type: 'snapstore:reindex:event', done, total })
      }
      await committer.commit(batch, false)
      done += batch.length
    } finally {
      await committer.settled().catch(() => undefined)
    }
    await committer.settled()
    await store.db.del(`${store.sub.meta.prefix}${REINDEXING}`)
    return done
  })
  await syncStore(store)
  return { events }
}

/** Every event of the log in (origin, seq) order, decoded and checked; `E_CORRUPT` for a damaged one. */
async function * loggedEvents (store: Store, options: OperationOptions): AsyncGenerator<StoredEvent> {
  for await (const [key, bytes] of store.sub.event.iterator(BULK_READ)) {
    options.signal?.throwIfAborted()
    const { origin, seq } = parseEventKey(key)
    yield openEvent(bytes, `${origin}:${seq}`)
  }
}
