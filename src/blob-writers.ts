import { assertOpen } from './closed-stores.ts'
import type { Store } from './store.ts'

/** Who writes blob bytes into a store in this process now. */
interface Writers {
  /** Blob puts in progress. */
  puts: number
  /** Blob puts ended so far, whether they stored anything or failed. */
  ended: number
  /** Settled when the work that runs without puts is done; undefined when none runs. */
  alone: Promise<void> | undefined
  /** Wakes the work waiting for the puts in progress to end. */
  idle: (() => void) | undefined
}

const writersOf = new WeakMap<Store, Writers>()

function writersFor (store: Store): Writers {
  let writers = writersOf.get(store)
  if (writers === undefined) {
    writers = { puts: 0, ended: 0, alone: undefined, idle: undefined }
    writersOf.set(store, writers)
  }
  return writers
}

/** Runs `work` as one of any number of blob puts at once; waits while `withoutBlobPuts` work runs. */
export async function asBlobPut<T> (store: Store, work: () => Promise<T>): Promise<T> {
  const writers = writersFor(store)
  while (writers.alone !== undefined) await writers.alone
  assertOpen(store)
  writers.puts++
  try {
    return await work()
  } finally {
    writers.puts--
    writers.ended++
    if (writers.puts === 0) writers.idle?.()
  }
}

/** How many blob puts into `store` have ended in this process: unchanged between two readings, none stored anything meanwhile. */
export function blobPutsEnded (store: Store): number {
  return writersFor(store).ended
}

/**
 * Runs `work` with no blob put running: after the puts in progress, and before any new one. A merge copies
 * blobs so, because it takes back what it copied when its source lies (cutting the packs back to where
 * they ended, deleting the chunk rows it wrote) and must not take another writer's bytes with it; `verify`
 * checks so, seeing no blob half written.
 */
export async function withoutBlobPuts<T> (store: Store, work: () => Promise<T>): Promise<T> {
  const writers = writersFor(store)
  while (writers.alone !== undefined) await writers.alone
  let done!: () => void
  writers.alone = new Promise((resolve) => { done = resolve })
  try {
    while (writers.puts > 0) await new Promise<void>((resolve) => { writers.idle = resolve })
    writers.idle = undefined
    return await work()
  } finally {
    writers.alone = undefined
    done()
  }
}
