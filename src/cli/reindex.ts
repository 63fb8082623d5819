import { reindex } from '../rebuild.ts'
import { withStore } from '../store.ts'
import { interruptible, storeInit } from './context.ts'
import { progressReporter, writeJson, writeLine } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** `snapstore reindex STORE`: rebuilds every projection from the log. */
export async function reindexCommand (path: string, options: StoreCommandOptions): Promise<void> {
  const progress = progressReporter('reindexing')
  // A reindex cut short is not completed on opening: this one does it, with progress.
  const { events } = await interruptible(async (signal) => await withStore(path, { ...storeInit(options), signal, finishReindex: false }, async (store) => await reindex(store, {
    signal,
    ...(progress.onProgress === undefined ? {} : { onProgress: progress.onProgress })
  })))
  progress.done()
  if (options.json === true) await writeJson({ events })
  else await writeLine(`reindexed ${events} events`)
}
