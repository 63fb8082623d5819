import { verifyStore } from '../verify.ts'
import { withStore } from '../store.ts'
import { storeInit } from './context.ts'
import { progressReporter, writeJson, writeLine } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** `snapstore verify STORE`: prints `ok: E events, B blobs`, or one problem per line and exits 1. */
export async function verify (path: string, options: StoreCommandOptions): Promise<void> {
  const progress = progressReporter('verifying')
  const report = await withStore(path, storeInit(options), async (store) => await verifyStore(store, progress.onProgress === undefined ? {} : { onProgress: progress.onProgress }))
  progress.done()
  if (options.json === true) await writeJson(report)
  else if (report.ok) await writeLine(`ok: ${report.events} events, ${report.blobs} blobs`)
  else for (const problem of report.problems) await writeLine(problem)
  if (!report.ok) process.exitCode = 1
}
