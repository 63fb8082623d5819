import { UsageError } from '../errors.ts'

/** Options every command that opens a store takes. */
export interface StoreCommandOptions {
  json?: boolean
  wait?: string
}

/** The store-open settings from the command line. */
export function storeInit (options: StoreCommandOptions): { wait: number } {
  if (options.wait === undefined) return { wait: 5 }
  const wait = Number(options.wait)
  if (!Number.isFinite(wait) || wait < 0) throw new UsageError(`Invalid --wait "${options.wait}": expected a number of seconds`)
  return { wait }
}

/** An integer option as written: its value, or `E_USAGE` quoting the text when it is not a whole number. */
export function integerOption (option: string, text: string): number {
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`Invalid ${option} "${text}": expected a whole number`)
  return Number(text)
}

/** Parses repeated K=V options into a map. */
export function parsePairs (pairs: readonly string[], option: string): Record<string, string> {
  const out = new Map<string, string>()
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at <= 0) throw new UsageError(`Invalid ${option} "${pair}": expected KEY=VALUE`)
    const key = pair.slice(0, at)
    if (out.has(key)) throw new UsageError(`Invalid ${option} "${pair}": ${key} is given twice`)
    out.set(key, pair.slice(at + 1))
  }
  // Each key an own property: assigning "__proto__" would set the prototype and lose the entry.
  return Object.fromEntries(out)
}

/** Collects a repeatable option's values. */
export function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/**
 * Runs `work` with a signal that SIGINT or SIGTERM aborts, so the command stops cleanly (keeping what it
 * verified, removing its temporary files) and exits 130; a second signal ends the process at once.
 */
export async function interruptible<T> (work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController()
  const stop = (): void => {
    if (controller.signal.aborted) process.exit(130)
    controller.abort()
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  try {
    return await work(controller.signal)
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}
