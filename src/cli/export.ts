import { exportCar } from '../car.ts'
import { withStore } from '../store.ts'
import { storeInit } from './context.ts'
import { writeJson, writeLine } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore export`. */
export interface ExportOptions extends StoreCommandOptions {
  output: string
}

/** `snapstore export STORE -o FILE.car [ID…]`: writes a CARv1 that `merge` can read. */
export async function exportCommand (path: string, ids: readonly string[], options: ExportOptions): Promise<void> {
  const result = await withStore(path, storeInit(options), async (store) => await exportCar(store, options.output, ids))
  if (options.json === true) await writeJson({ ...result, file: options.output })
  else await writeLine(`exported ${result.events} events, ${result.blobs} blobs`)
}
