import { UsageError } from '../errors.ts'
import { serveStore } from '../sync/server.ts'
import { readTokenFile } from '../sync/token.ts'
import { storeInit } from './context.ts'
import { writeJson, writeLine } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore serve`. */
export interface ServeCommandOptions extends StoreCommandOptions {
  bind: string
  port: string
  tokenFile?: string
  allowPush?: boolean
  maxPushBytes?: string
}

/** `snapstore serve STORE`: prints the URL it listens on, then serves until SIGINT or SIGTERM and closes cleanly. */
export async function serve (path: string, options: ServeCommandOptions): Promise<void> {
  const port = integerOption(options.port, '--port', 0, 65535)
  const maxPushBytes = options.maxPushBytes === undefined ? undefined : integerOption(options.maxPushBytes, '--max-push-bytes', 1, Number.MAX_SAFE_INTEGER)
  const token = options.tokenFile === undefined ? undefined : await readTokenFile(options.tokenFile)
  const server = await serveStore(path, {
    bind: options.bind,
    port,
    wait: storeInit(options).wait,
    allowPush: options.allowPush === true,
    ...(token === undefined ? {} : { token }),
    ...(maxPushBytes === undefined ? {} : { maxPushBytes }),
    onError: (err) => { process.stderr.write(`snapstore: serve: internal error: ${(err as Error)?.stack ?? String(err)}\n`) }
  })
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve(signal)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  if (options.json === true) await writeJson({ url: server.url, push: options.allowPush === true, token: token !== undefined })
  else await writeLine(server.url)
  if (token === undefined && !/^(127\.|::1$|localhost$)/.test(options.bind)) {
    process.stderr.write(`snapstore: warning: serving ${path} on ${options.bind} without a token: anyone who can reach it can read it${options.allowPush === true ? ' and push to it' : ''} (see --token-file)\n`)
  }
  await stopped
  await server.close()
}

function integerOption (text: string, name: string, min: number, max: number): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new UsageError(`Invalid ${name} "${text}": expected an integer from ${min} to ${max}`)
  return value
}
