import { pushStore } from '../sync/push.ts'
import { interruptible, storeInit } from './context.ts'
import { progressReporter, writeJson, writeLine } from './output.ts'
import { clientToken } from './token.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore push`. */
export interface PushCommandOptions extends StoreCommandOptions {
  tokenFile?: string
}

/** `snapstore push STORE URL`: sends the server what it lacks; prints `pushed E events, B blobs (N bytes) to URL`. */
export async function push (path: string, url: string, options: PushCommandOptions): Promise<void> {
  const token = await clientToken(options.tokenFile)
  const progress = progressReporter('pushing')
  try {
    const result = await interruptible(async (signal) => await pushStore(path, url, {
      ...storeInit(options),
      signal,
      ...(token === undefined ? {} : { token }),
      ...(progress.onProgress === undefined ? {} : { onProgress: progress.onProgress })
    }))
    progress.done()
    if (options.json === true) await writeJson(result)
    else await writeLine(`pushed ${result.events} events, ${result.blobs} blobs (${result.bytes} bytes) to ${result.target}`)
  } finally {
    progress.done()
  }
}
