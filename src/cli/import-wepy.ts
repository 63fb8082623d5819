import { withStore } from '../store.ts'
import { importWepy } from '../wepy/import.ts'
import { interruptible, storeInit } from './context.ts'
import { progressReporter, writeJson, writeLine } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** `snapstore import-wepy STORE ORCH.sqlite…`: imports each wepy orchestrator database in turn; one line per file. */
export async function importWepyCommand (path: string, files: readonly string[], options: StoreCommandOptions): Promise<void> {
  await interruptible(async (signal) => await withStore(path, storeInit(options), async (store) => {
    for (const file of files) {
      const progress = progressReporter(`importing ${file}`)
      try {
        const result = await importWepy(store, file, progress.onProgress === undefined ? { signal } : { signal, onProgress: progress.onProgress })
        progress.done()
        if (options.json === true) await writeJson({ file, ...result })
        else await writeLine(`imported ${result.snapshots} snapshots, ${result.configs} configs, ${result.runs} runs from ${file}`)
      } finally {
        progress.done()
      }
    }
  }))
}
