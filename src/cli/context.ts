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

/** Parses repeated K=V options into a map. */
export function parsePairs (pairs: readonly string[], option: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at <= 0) throw new UsageError(`Invalid ${option} "${pair}": expected KEY=VALUE`)
    out[pair.slice(0, at)] = pair.slice(at + 1)
  }
  return out
}

/** Collects a repeatable option's values. */
export function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}
