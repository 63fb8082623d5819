import { stat } from 'node:fs'

// How often an open store asks the thread pool for a trivial task.
const NUDGE_MS = 1000

let holders = 0
let timer: NodeJS.Timeout | undefined

/**
 * Asks libuv's thread pool for a trivial task once a second while any store is open here. glibc before
 * 2.41 can lose a condition variable's wake-up (sourceware bug 25847): a database request then waits in
 * the pool's queue while every worker sleeps, and the process waits for it forever (seen here about once
 * in ten builds of 100,000 blobs). Each new task signals the workers again, so a lost wake-up costs at
 * most a second. The timer does not keep the process alive.
 */
export function holdPoolNudge (): void {
  if (holders++ > 0) return
  timer = setInterval(() => { stat('/', () => {}) }, NUDGE_MS)
  timer.unref()
}

/** Gives back one `holdPoolNudge`; the timer stops with the last. */
export function releasePoolNudge (): void {
  if (--holders > 0) return
  clearInterval(timer)
  timer = undefined
}

/** True while the nudge runs (for tests). */
export function poolNudgeRunning (): boolean {
  return timer !== undefined
}
