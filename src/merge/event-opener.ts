import { createRequire } from 'node:module'
import { openPage, transferablesOf } from './opened-page.ts'
import type { OpenedPage, PageToOpen } from './opened-page.ts'

/** Opens pages of incoming events, on this thread or another; pages come back in the order they were given. */
export interface EventOpener {
  open: (page: PageToOpen) => Promise<OpenedPage>
  close: () => Promise<void>
}

/** Opening on this thread, for merges too small to be worth a thread. */
export const inlineOpener: EventOpener = {
  open: async (page) => openPage(page),
  close: async () => undefined
}

/**
 * Opening on a thread of its own: decoding, checking and hashing events is most of what the checking pass
 * of a merge does, and with it on another core this thread only reads, orders and checks references.
 */
export function threadOpener (): EventOpener {
  const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads')
  const worker = new Worker(new URL('./open-worker.js', import.meta.url))
  const waiting: Array<{ resolve: (page: OpenedPage) => void, reject: (err: Error) => void }> = []
  let failure: Error | undefined
  const fail = (err: Error): void => {
    failure ??= err
    for (const { reject } of waiting.splice(0)) reject(failure)
  }
  worker.on('message', (page: OpenedPage) => { waiting.shift()?.resolve(page) })
  worker.on('error', fail)
  worker.on('exit', (code) => { fail(new Error(`the thread that opens incoming events stopped (exit code ${code})`)) })
  return {
    open: async (page) => {
      if (failure !== undefined) throw failure
      const opened = new Promise<OpenedPage>((resolve, reject) => waiting.push({ resolve, reject }))
      worker.postMessage(page, transferablesOf(page))
      return await opened
    },
    close: async () => { await worker.terminate() }
  }
}
