import { createHash } from 'node:crypto'
import { Worker } from 'node:worker_threads'

/** A message to the whole-hash worker. */
export type WholeHashRequest =
  | { type: 'begin', buffer: SharedArrayBuffer }
  | { type: 'update', seq: number, start: number, length: number }
  | { type: 'digest' }

type WholeHashReply = { type: 'updated', seq: number } | { type: 'digest', digest: Uint8Array }

/** The sha-256 of a blob's whole content, fed in order with ranges of the ingest's memory. */
export interface WholeHash {
  /** Hashes `length` bytes at `start`; settles once those bytes may be overwritten. */
  update: (start: number, length: number) => Promise<void>
  /** The digest of everything fed, once all of it is hashed. */
  digest: () => Promise<Uint8Array>
  /** Stops the hasher's thread, if it has one. */
  close: () => Promise<void>
}

/** Hashing on this thread, for blobs too small to be worth a second one. */
export function inlineWholeHash (memory: Uint8Array): WholeHash {
  const hash = createHash('sha256')
  return {
    update: async (start, length) => { hash.update(memory.subarray(start, start + length)) },
    digest: async () => hash.digest(),
    close: async () => undefined
  }
}

/** Hashing on a worker thread that reads the ingest's shared memory, beside the work of this one. */
export async function workerWholeHash (buffer: SharedArrayBuffer): Promise<WholeHash> {
  const worker = new Worker(new URL('./hash-worker.js', import.meta.url))
  const waiting = new Map<number, () => void>()
  let digested: { resolve: (digest: Uint8Array) => void, reject: (err: Error) => void } | undefined
  let failure: Error | undefined
  const fail = (err: Error): void => {
    failure ??= err
    for (const resolve of waiting.values()) resolve()
    waiting.clear()
    digested?.reject(failure)
  }
  worker.on('message', (reply: WholeHashReply) => {
    if (reply.type === 'updated') {
      waiting.get(reply.seq)?.()
      waiting.delete(reply.seq)
    } else {
      digested?.resolve(reply.digest)
    }
  })
  worker.on('error', fail)
  worker.on('exit', (code) => { if (digested !== undefined || waiting.size > 0) fail(new Error(`the hashing thread stopped (exit code ${code})`)) })
  worker.postMessage({ type: 'begin', buffer } satisfies WholeHashRequest)
  let seq = 0
  return {
    update: async (start, length) => {
      const mine = seq++
      const updated = new Promise<void>((resolve) => waiting.set(mine, resolve))
      worker.postMessage({ type: 'update', seq: mine, start, length } satisfies WholeHashRequest)
      await updated
      if (failure !== undefined) throw failure
    },
    digest: async () => {
      if (failure !== undefined) throw failure
      const digest = await new Promise<Uint8Array>((resolve, reject) => {
        digested = { resolve, reject }
        worker.postMessage({ type: 'digest' } satisfies WholeHashRequest)
      })
      digested = undefined
      return digest
    },
    close: async () => { await worker.terminate() }
  }
}
