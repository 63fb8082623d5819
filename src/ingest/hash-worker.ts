import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { HashRequest } from './hash-thread.ts'

// Hashes ranges of memory it shares with an ingest: the whole content in order, or a round's chunks one
// by one, so hashing runs beside chunking and writing on the ingest's own thread.
const port = parentPort!
let whole = createHash('sha256')
let memory: Uint8Array<ArrayBufferLike> = new Uint8Array(0)
port.on('message', (request: HashRequest) => {
  switch (request.type) {
    case 'begin':
      whole = createHash('sha256')
      memory = new Uint8Array(request.buffer)
      return
    case 'update':
      for (let i = 0; i < request.ranges.length; i += 2) whole.update(memory.subarray(request.ranges[i]!, request.ranges[i]! + request.ranges[i + 1]!))
      port.postMessage({ type: 'done', seq: request.seq })
      return
    case 'digest':
      port.postMessage({ type: 'digest', digest: whole.digest() })
      return
    case 'chunks': {
      const digests = new Uint8Array(32 * (request.ranges.length / 2))
      for (let i = 0; i < request.ranges.length; i += 2) {
        const start = request.ranges[i]!
        digests.set(createHash('sha256').update(memory.subarray(start, start + request.ranges[i + 1]!)).digest(), 16 * i)
      }
      port.postMessage({ type: 'done', seq: request.seq, digests }, [digests.buffer])
    }
  }
})
