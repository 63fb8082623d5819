import { mergeStores } from '../merge/merge-stores.ts'
import { withStore } from '../store.ts'
import { redactUrl } from '../sync/peer.ts'
import { interruptible, storeInit } from './context.ts'
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
  // A URL is printed and journaled without any user:password it carries.
  const shown = sources.map((source) => isUrl(source) ? redactUrl(source) : source)
  const token = sources.some(isUrl) ? await clientToken(options.tokenFile) : undefined
  await interruptible(async (signal) => await withStore(destPath, init, async (dest) => {
    for (const [i, source] of sources.entries()) {
      const progress = progressReporter(`merging ${shown[i]!}`)
      try {
        const result = await mergeStores(dest, source, {
          ...init,
          signal,
          ...(options.dryRun === true ? { dryRun: true } : {}),
          ...(token === undefined ? {} : { token }),
          ...(progress.onProgress === undefined ? {} : { onProgress: progress.onProgress })
        })
        progress.done()
        if (options.json === true) await writeJson(result)
        else await writeLine(`${result.dryRun === true ? 'would merge' : 'merged'} ${result.events} events, ${result.blobs} blobs (${result.bytes} bytes) from ${shown[i]!}`)
      } finally {
        progress.done()
      }
    }
  }))
}
