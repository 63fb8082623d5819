import { realpath } from 'node:fs/promises'
import { resolve } from 'node:path'
import { listHeads } from '../log.ts'
import { eventKey } from '../keys.ts'
import { BULK_READ, openStore, closeStore } from '../store.ts'
import { readChunk, readChunks } from '../chunks.ts'
import { CorruptError, isSnapstoreError } from '../errors.ts'
import type { Store, StoreInit } from '../store.ts'
import type { OriginHead } from '../types.ts'
import type { Pieces } from '../pieces.ts'

/**
 * Where a merge reads from: a store directory, a CAR file, or a peer. Everything a source returns is
 * untrusted; the merge engine checks every id, link and digest itself.
 */
export interface MergeSource {
  /** How the source is named in messages and results. */
  readonly name: string
  /** How the journal records the source when not as `name`: a local one by its absolute path, so the record means the same from any directory. */
  readonly journalName?: string
  /** The source's version vector with head ids. */
  heads: () => Promise<OriginHead[]>
  /** Raw event bytes of one origin for seqs from..to, in seq order, a page at a time (as they are read or arrive). */
  events: (origin: string, from: number, to: number) => AsyncIterable<readonly Uint8Array[]>
  /** Raw bytes of one event, or undefined. */
  eventAt: (origin: string, seq: number) => Promise<Uint8Array | undefined>
  /** A blob's record (its size and chunk list) as raw CBOR bytes, or undefined. */
  blobRecord: (digestHex: string) => Promise<Uint8Array | undefined>
  /** The bytes of one chunk, or undefined. */
  chunk: (digestHex: string) => Promise<Uint8Array | undefined>
  /** Optional, for sources where each call is a round trip or a lookup: many records at once, in the order asked (undefined where absent). */
  blobRecords?: (digestHexes: readonly string[]) => Promise<Array<Uint8Array | undefined>>
  /**
   * Optional, likewise: many chunks at once, each with the size its record gives (which bounds what is read),
   * each in the pieces it arrived in. Given `memory` (as long as the sizes together), a source may read the
   * chunks into it one after another instead of into buffers of their own.
   */
  chunks?: (wanted: ReadonlyArray<{ hex: string, size: number }>, memory?: Uint8Array) => Promise<Array<Pieces | undefined>>
  /** Releases what the source holds. */
  close: () => Promise<void>
}

/** A store directory opened as a merge source; it is only read. */
export async function openStoreSource (path: string, init: StoreInit = {}): Promise<MergeSource & { store: Store, realPath: string }> {
  // Only the log and blobs are read, never the projections: a reindex the source has not finished is left to it.
  const store = await openStore(path, { ...init, finishReindex: false })
  return storeSource(store, path, await realpath(path))
}

function storeSource (store: Store, name: string, realPath: string): MergeSource & { store: Store, realPath: string } {
  return {
    name,
    journalName: resolve(name),
    store,
    realPath,
    heads: async () => await listHeads(store),
    events: (origin, from, to) => pagesReadAhead(store.sub.event.values({ ...BULK_READ, gte: eventKey(origin, from), lte: eventKey(origin, to) })),
    eventAt: async (origin, seq) => await store.sub.event.get(eventKey(origin, seq)),
    blobRecord: async (digestHex) => await store.sub.blob.get(digestHex),
    chunk: async (digestHex) => await readChunk(store, digestHex),
    blobRecords: async (digestHexes) => await store.sub.blob.getMany(digestHexes as string[]),
    chunks: async (wanted, memory) => {
      // A chunk that cannot be read fails the merge, naming it; one of another size is refused by the merge.
      const unreadable = (hex: string, err: unknown): never => {
        throw isSnapstoreError(err) ? new CorruptError(`Cannot merge from ${name}: chunk ${hex}: ${err.message}`, { cause: err }) : err as Error
      }
      return (await readChunks(store, wanted, memory, unreadable)).map((bytes) => bytes === undefined ? undefined : [bytes])
    },
    close: async () => { await closeStore(store) }
  }
}

// Events are read from a store source a page at a time, the next page read while this one is checked.
const EVENT_PAGE = 1000

/** The values an iterator gives, a page at a time, the next page read while the consumer checks this one: a merge's checks never wait for the disk between pages. */
async function * pagesReadAhead (iterator: { nextv: (size: number) => Promise<Uint8Array[]>, close: () => Promise<void> }): AsyncGenerator<Uint8Array[]> {
  let next: Promise<Uint8Array[]> | undefined = iterator.nextv(EVENT_PAGE)
  try {
    for (;;) {
      const page = await next
      if (page.length === 0) return
      next = iterator.nextv(EVENT_PAGE)
      next.catch(() => undefined)
      yield page
    }
  } finally {
    await next?.catch(() => undefined)
    await iterator.close()
  }
}
