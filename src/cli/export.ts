import { exportCar } from '../car.ts'
import { withStore } from '../store.ts'
import { interruptible, storeInit } from './context.ts'
import { writeJson, writeLine } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore export`. */
export interface ExportOptions extends StoreCommandOptions {
  output: string
}

/** `snapstore export STORE -o FILE.car [ID…]`: writes a CARv1 that `merge` can read. */
export async function exportCommand (path: string, ids: readonly string[], options: ExportOptions): Promise<void> {
  // Interrupted, it removes the file it was writing before exiting.
  const result = await interruptible(async (signal) => await withStore(path, storeInit(options), async (store) => await exportCar(store, options.output, ids, { signal })))
  if (options.json === true) await writeJson({ ...result, file: options.output })
  else await writeLine(`exported ${result.events} events, ${result.blobs} blobs`)
}
