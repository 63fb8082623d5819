import type { Op } from './ops.ts'
import type { Store } from './store.ts'

/** Writes operations addressed by sublevel name as one atomic LevelDB batch. */
export async function writeBatch (store: Store, ops: readonly Op[], sync: boolean): Promise<void> {
  if (ops.length === 0) return
  await store.db.batch(ops.map((op) => op.type === 'put'
    ? { type: 'put' as const, sublevel: store.sub[op.sublevel], key: op.key, value: op.value }
    : { type: 'del' as const, sublevel: store.sub[op.sublevel], key: op.key }), { sync })
}
