import { mergeStores } from '../merge/merge-stores.ts'
import { withStore } from '../store.ts'
import { redactUrl } from '../sync/peer.ts'
import { storeInit } from './context.ts'
import { progressReporter, writeJson, writeLine } from './output.ts'
import { clientToken, isUrl } from './token.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore merge`. */
export interface MergeCommandOptions extends StoreCommandOptions {
  dryRun?: boolean
  tokenFile?: string
}

/** `snapstore merge DEST SRC…`: merges each source (a store, a .car file, a server's URL) in turn; one line per source. */
export async function merge (destPath: string, sources: readonly string[], options: MergeCommandOptions): Promise<void> {
  const init = storeInit(options)
  const token = sources.some(isUrl) ? await clientToken(options.tokenFile) : undefined
  await withStore(destPath, init, async (dest) => {
    for (const source of sources) {
      // A URL is printed and journaled without any user:password it carries.
      const shown = isUrl(source) ? redactUrl(source) : source
      const progress = progressReporter(`merging ${shown}`)
      try {
        const result = await mergeStores(dest, source, {
          ...init,
          ...(options.dryRun === true ? { dryRun: true } : {}),
          ...(token === undefined ? {} : { token }),
          ...(progress.onProgress === undefined ? {} : { onProgress: progress.onProgress })
        })
        progress.done()
        if (options.json === true) await writeJson(result)
        else await writeLine(`${result.dryRun === true ? 'would merge' : 'merged'} ${result.events} events, ${result.blobs} blobs (${result.bytes} bytes) from ${shown}`)
      } finally {
        progress.done()
      }
    }
  })
}
