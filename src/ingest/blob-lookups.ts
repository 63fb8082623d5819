import type { Store } from '../store.ts'

/** A question waiting for the next lookup. */
interface Asked {
  key: string
  answer: (stored: boolean) => void
  fail: (err: unknown) => void
}

interface Lookups {
  waiting: Asked[]
  running: boolean
}

const lookupsOf = new WeakMap<Store, Lookups>()

/**
 * True when the store holds a record of the blob with this hex digest. Ingests finishing at once are answered
 * together: the questions asked while a lookup is under way go in the next one, so no answer comes from a
 * lookup that began before its question (one lookup each was a seventh of the time of storing tiny blobs).
 */
export async function isBlobStored (store: Store, key: string): Promise<boolean> {
  let lookups = lookupsOf.get(store)
  if (lookups === undefined) {
    lookups = { waiting: [], running: false }
    lookupsOf.set(store, lookups)
  }
  const { waiting } = lookups
  const asked = new Promise<boolean>((resolve, reject) => { waiting.push({ key, answer: resolve, fail: reject }) })
  if (!lookups.running) void lookUp(store, lookups)
  return await asked
}

async function lookUp (store: Store, lookups: Lookups): Promise<void> {
  lookups.running = true
  while (lookups.waiting.length > 0) {
    const asked = lookups.waiting
    lookups.waiting = []
    try {
      const stored = await store.sub.blob.hasMany(asked.map(({ key }) => key))
      asked.forEach(({ answer }, i) => { answer(stored[i] === true) })
    } catch (err) {
      for (const { fail } of asked) fail(err)
    }
  }
  lookups.running = false
}
