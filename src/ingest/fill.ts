import type { FileHandle } from 'node:fs/promises'

/** Bytes to store: in memory, or streamed from any (async) iterable of pieces. */
export type BlobSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

/** Copies the source's next bytes into `target`, filling it unless the source ends first; returns how many. */
export type Fill = (target: Uint8Array) => Promise<number>

/** Reads a file from its start, in order. */
export function fillFromFile (handle: FileHandle): Fill {
  let position = 0
  return async (target) => {
    let done = 0
    while (done < target.length) {
      const { bytesRead } = await handle.read(target, done, target.length - done, position)
      if (bytesRead === 0) break
      done += bytesRead
      position += bytesRead
    }
    return done
  }
}

/** Copies from bytes in memory or from the pieces of an (async) iterable, keeping what does not fit for the next call. */
export function fillFromSource (source: BlobSource): Fill {
  const pieces = source instanceof Uint8Array ? [source][Symbol.iterator]() : toAsyncIterator(source)
  let left: Uint8Array | undefined
  let ended = false
  return async (target) => {
    let done = 0
    while (done < target.length) {
      if (left === undefined || left.length === 0) {
        if (ended) break
        const next = await pieces.next()
        if (next.done === true) {
          ended = true
          break
        }
        left = next.value
        continue
      }
      const take = Math.min(left.length, target.length - done)
      target.set(take === left.length ? left : left.subarray(0, take), done)
      left = left.subarray(take)
      done += take
    }
    return done
  }
}

function toAsyncIterator (source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): AsyncIterator<Uint8Array> | Iterator<Uint8Array> {
  return Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]()
}
