import { syncStore } from '../log.ts'
import type { Store } from '../store.ts'

/**
 * Raises a store's Lamport clock to `clock` (a store whose events it has seen, though not merged), so
 * that the events it appends next order after those; a clock already as high is left alone.
 */
export async function raiseClock (store: Store, clock: number): Promise<void> {
  if (clock <= store.clock) return
  store.clock = clock
  await syncStore(store)
}
