import { mergeStores } from '../merge/merge-stores.ts'
import { withStore } from '../store.ts'
import { storeInit } from './context.ts'
import { progressReporter, writeJson, writeLine } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** `snapstore merge DEST SRC…`: merges each source in turn; one line per source. */
export async function merge (destPath: string, sources: readonly string[], options: StoreCommandOptions & { dryRun?: boolean }): Promise<void> {
  const init = storeInit(options)
  await withStore(destPath, init, async (dest) => {
    for (const source of sources) {
      const progress = progressReporter(`merging ${source}`)
      try {
        const result = await mergeStores(dest, source, { ...init, ...(options.dryRun === true ? { dryRun: true } : {}), ...(progress.onProgress === undefined ? {} : { onProgress: progress.onProgress }) })
        progress.done()
        if (options.json === true) await writeJson(result)
        else await writeLine(`${result.dryRun === true ? 'would merge' : 'merged'} ${result.events} events, ${result.blobs} blobs (${result.bytes} bytes) from ${source}`)
      } finally {
        progress.done()
      }
    }
  })
}
