import { createHash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { WholeHashRequest } from './whole-hash.ts'

// The whole-content sha-256 of one blob, computed on this thread over memory it shares with the ingest,
// so hashing the whole runs beside chunking and chunk hashing on the main thread.
const port = parentPort!
let hash = createHash('sha256')
let memory: Uint8Array<ArrayBufferLike> = new Uint8Array(0)
port.on('message', (request: WholeHashRequest) => {
  switch (request.type) {
    case 'begin':
      hash = createHash('sha256')
      memory = new Uint8Array(request.buffer)
      return
    case 'update':
      hash.update(memory.subarray(request.start, request.start + request.length))
      port.postMessage({ type: 'updated', seq: request.seq })
      return
    case 'digest':
      port.postMessage({ type: 'digest', digest: hash.digest() })
  }
})
