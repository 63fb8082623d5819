import { UsageError } from '../errors.ts'
import { verifyStore } from '../verify.ts'
import { withStore } from '../store.ts'
import { interruptible, storeInit } from './context.ts'
import { progressReporter, writeJson, writeLine } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** `snapstore verify STORE`: prints `ok: E events, B blobs`, or one problem per line and exits 1. */
export async function verify (path: string, options: StoreCommandOptions & { sample?: string }): Promise<void> {
  const sample = options.sample === undefined ? undefined : /^(\d+(\.\d*)?|\.\d+)%?$/.test(options.sample) ? Number(options.sample.replace(/%$/, '')) : NaN
  if (sample !== undefined && !(sample > 0 && sample <= 100)) throw new UsageError(`Invalid --sample "${options.sample}": expected a percentage above 0 and at most 100`)
  const progress = progressReporter('verifying')
  // Interrupted, it removes its scratch store before exiting.
  const report = await interruptible(async (signal) => await withStore(path, storeInit(options), async (store) => await verifyStore(store, {
    signal,
    ...(progress.onProgress === undefined ? {} : { onProgress: progress.onProgress }),
    ...(sample === undefined ? {} : { sample })
  })))
  progress.done()
  if (options.json === true) await writeJson(report)
  else if (report.ok) await writeLine(`ok: ${report.events} events, ${report.blobs} blobs`)
  else for (const problem of report.problems) await writeLine(problem)
  if (!report.ok) process.exitCode = 1
}
