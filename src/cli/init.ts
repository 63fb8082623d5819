import { closeStore, initStore } from '../store.ts'
import { writeJson, writeLine } from './output.ts'

/** `snapstore init STORE`: creates an empty store and prints its origin id. */
export async function init (path: string, options: { json?: boolean }): Promise<void> {
  const store = await initStore(path)
  await closeStore(store)
  if (options.json === true) await writeJson({ origin: store.origin, path: store.path })
  else await writeLine(store.origin)
}
