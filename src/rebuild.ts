import { openEvent } from './event-format.ts'
import { parseEventKey } from './keys.ts'
import { StateOverlay } from './ops.ts'
import { projectEvent } from './projections/index.ts'
import { DERIVED_SUBLEVELS } from './store.ts'
import { writeBatch } from './batch.ts'
import type { Op } from './ops.ts'
import type { Store } from './store.ts'
import type { OperationOptions } from './types.ts'

/**
 * Computes every index and projection from the log alone, in memory, without writing.
 * Events are applied in (origin, seq) order rather than total order: projections do not depend
 * on delivery order, and this way every rebuild exercises that promise.
 */
export async function rebuildState (store: Store, options: OperationOptions = {}): Promise<{ state: StateOverlay, events: number }> {
  const state = new StateOverlay()
  let events = 0
  for await (const [key, bytes] of store.sub.event.iterator()) {
    options.signal?.throwIfAborted()
    const { origin, seq } = parseEventKey(key)
    const stored = openEvent(bytes, `${origin}:${seq}`)
    state.apply(projectEvent(stored, state))
    events++
    if (events % 10000 === 0) options.onProgress?.({ type: 'snapstore:reindex:event', done: events })
  }
  return { state, events }
}

const WRITE_PAGE = 10000

/** Rebuilds every index and projection from the log; running it again after an interruption completes it. */
export async function reindex (store: Store, options: OperationOptions = {}): Promise<{ events: number }> {
  const { state, events } = await rebuildState(store, options)
  for (const name of DERIVED_SUBLEVELS) await store.sub[name].clear()
  let page: Op[] = []
  for (const [sublevel, key, value] of state.entries()) {
    page.push({ type: 'put', sublevel, key, value })
    if (page.length >= WRITE_PAGE) {
      await writeBatch(store, page, false)
      page = []
    }
  }
  await writeBatch(store, page, true)
  return { events }
}
