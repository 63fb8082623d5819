import { createHash } from 'node:crypto'
import { decode, encode } from '../codec.ts'
import { CorruptError } from '../errors.ts'
import { digestHex } from '../ids.ts'
import { writeBatch } from '../batch.ts'
import type { CID } from 'multiformats/cid'
import type { BlobRecord } from '../blobs.ts'
import type { Op } from '../ops.ts'
import type { Store } from '../store.ts'
import type { OperationOptions } from '../types.ts'
import type { MergeSource } from './source.ts'

/** What copying blobs wrote, so a failed merge can take it back. */
export interface CopiedBlobs {
  blobs: string[]
  chunks: string[]
  bytes: number
}

const BATCH_BYTES = 8 * 1024 * 1024

/**
 * Copies blobs the destination lacks, checking every chunk's digest and size and each blob's whole
 * digest, and its size against what events say, before its record is written. Chunks the destination
 * already holds are read from it, not copied.
 */
export async function copyBlobs (dest: Store, source: MergeSource, ids: Iterable<CID>, sizes: ReadonlyMap<string, number>, copied: CopiedBlobs, options: OperationOptions = {}): Promise<void> {
  let pending: Op[] = []
  let pendingBytes = 0
  const flush = async (): Promise<void> => {
    await writeBatch(dest, pending, false)
    pending = []
    pendingBytes = 0
  }
  const staged = new Set<string>()
  for (const id of ids) {
    options.signal?.throwIfAborted()
    const hex = digestHex(id)
    const recordBytes = await source.blobRecord(hex)
    if (recordBytes === undefined) throw new CorruptError(`Cannot merge from ${source.name}: it lacks blob ${id.toString()}, which its events name`)
    const record = decode<BlobRecord>(recordBytes)
    if (typeof record?.size !== 'number' || !Array.isArray(record.chunks)) throw new CorruptError(`Cannot merge from ${source.name}: the record of blob ${id.toString()} is malformed`)
    if (sizes.get(hex) !== undefined && sizes.get(hex) !== record.size) {
      throw new CorruptError(`Cannot merge from ${source.name}: blob ${id.toString()} has ${record.size} bytes, but an event says ${sizes.get(hex)}`)
    }
    const whole = createHash('sha256')
    let size = 0
    for (const [digest, chunkSize] of record.chunks) {
      const chunkHex = Buffer.from(digest).toString('hex')
      // A chunk staged for this merge but not yet flushed is read back from the source.
      let bytes = staged.has(chunkHex) ? undefined : await dest.sub.chunk.get(chunkHex)
      if (bytes === undefined) {
        bytes = await source.chunk(chunkHex)
        if (bytes === undefined) throw new CorruptError(`Cannot merge from ${source.name}: it lacks chunk ${chunkHex} of blob ${id.toString()}`)
        const computed = createHash('sha256').update(bytes).digest('hex')
        if (computed !== chunkHex || bytes.length !== chunkSize) {
          throw new CorruptError(`Cannot merge blob ${id.toString()} from ${source.name}: chunk digest mismatch: expected ${chunkHex}, computed ${computed}`,
            { details: { blob: id.toString(), expected: chunkHex, computed } })
        }
        if (!staged.has(chunkHex)) {
          pending.push({ type: 'put', sublevel: 'chunk', key: chunkHex, value: bytes })
          copied.chunks.push(chunkHex)
          staged.add(chunkHex)
          pendingBytes += bytes.length
          copied.bytes += bytes.length
        }
      }
      whole.update(bytes)
      size += bytes.length
      options.onProgress?.({ type: 'snapstore:merge:bytes', done: copied.bytes })
      if (pendingBytes >= BATCH_BYTES) await flush()
    }
    const computed = whole.digest('hex')
    if (computed !== hex || size !== record.size) {
      throw new CorruptError(`Cannot merge blob ${id.toString()} from ${source.name}: digest mismatch: expected ${hex}, computed ${computed}`,
        { details: { blob: id.toString(), expected: hex, computed } })
    }
    pending.push({ type: 'put', sublevel: 'blob', key: hex, value: encode({ size: record.size, chunks: record.chunks }) })
    copied.blobs.push(hex)
  }
  await flush()
}

/** Deletes what a failed merge copied, so the destination is as it was. */
export async function uncopyBlobs (dest: Store, copied: CopiedBlobs): Promise<void> {
  const ops: Op[] = [
    ...copied.blobs.map((key): Op => ({ type: 'del', sublevel: 'blob', key })),
    ...copied.chunks.map((key): Op => ({ type: 'del', sublevel: 'chunk', key }))
  ]
  await writeBatch(dest, ops, true)
}
