import { BadInputError } from './errors.ts'
import type { Store } from './store.ts'

const closed = new WeakSet<Store>()

/** Marks a store closed: what is asked of it afterwards (writes, verify) fails with `E_BAD_INPUT` instead of a LevelDB error. */
export function markClosed (store: Store): void {
  closed.add(store)
}

/** True once `store` was closed. */
export function isClosed (store: Store): boolean {
  return closed.has(store)
}

/** Fails with `E_BAD_INPUT` when `store` was closed. */
export function assertOpen (store: Store): void {
  if (closed.has(store)) throw new BadInputError(`Cannot use store "${store.path}": it was closed (open it again)`)
}
