import { closeStore, openStore } from '../store.ts'
import type { Store, StoreInit } from '../store.ts'

/**
 * A store opened only while someone uses it. Overlapping users share one open store (LevelDB admits one
 * opener per process); when the last one is done the store is closed after `lingerMs`, so other processes
 * (local `add`, `merge`, `verify`) can open it between requests, while a burst of requests from one pull
 * does not reopen it for each.
 */
export class StoreLease {
  readonly path: string
  readonly #init: StoreInit
  readonly #lingerMs: number
  #open: Promise<Store> | undefined
  #closing: Promise<void> = Promise.resolve()
  #users = 0
  #timer: NodeJS.Timeout | undefined

  // 250 ms spans the pauses of a pull between its requests (checking events, writing a group of chunks):
  // at 20 ms a pull of 1,000 small snapshots reopened the store five or six times, 5-17 ms each.
  constructor (path: string, init: StoreInit = {}, lingerMs = 250) {
    this.path = path
    this.#init = init
    this.#lingerMs = lingerMs
  }

  /** Runs `work` with the store open, opening it first when nobody holds it. */
  async use<T> (work: (store: Store) => Promise<T>): Promise<T> {
    this.#users++
    clearTimeout(this.#timer)
    try {
      if (this.#open === undefined) {
        const opening = this.#closing.then(async () => await openStore(this.path, this.#init))
        this.#open = opening
        // A failed open is not kept: the next request tries again.
        opening.catch(() => { if (this.#open === opening) this.#open = undefined })
      }
      return await work(await this.#open)
    } finally {
      this.#users--
      if (this.#users === 0) {
        this.#timer = setTimeout(() => { void this.#release() }, this.#lingerMs)
        this.#timer.unref()
      }
    }
  }

  /** Closes the store once nobody uses it; the lease can still be used afterwards (it reopens). */
  async close (): Promise<void> {
    clearTimeout(this.#timer)
    await this.#release()
  }

  async #release (): Promise<void> {
    const open = this.#open
    if (this.#users > 0 || open === undefined) return await this.#closing
    this.#open = undefined
    this.#closing = open.then(async (store) => { await closeStore(store) }, () => undefined)
    await this.#closing
  }
}
