/**
 * Maps items in order while keeping up to `window` of them started ahead of the consumer: `start` kicks
 * off work (a read from a peer, a disk) and returns a handle the consumer awaits when it gets there.
 * Items are pulled from `items` only as the window frees, so memory stays bounded by the window.
 */
export async function * readAhead<T, R> (items: Iterable<T> | AsyncIterable<T>, window: number, start: (item: T) => R): AsyncGenerator<R> {
  const started: R[] = []
  for await (const item of items) {
    started.push(start(item))
    if (started.length >= window) yield started.shift()!
  }
  while (started.length > 0) yield started.shift()!
}

/**
 * Marks a promise as handled without changing what awaiting it gives: a read started ahead and then
 * abandoned (the merge failed first) must not be reported as an unhandled rejection.
 */
export function settleQuietly<T> (promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined)
  return promise
}
