import { setTag } from '../tag.ts'
import { withStore } from '../store.ts'
import { storeInit } from './context.ts'
import { writeJson } from './output.ts'
import type { StoreCommandOptions } from './context.ts'

/** `snapstore tag STORE NAME ID`: points a tag at a blob or run; prints nothing (JSON with --json). */
export async function tag (path: string, name: string, id: string, options: StoreCommandOptions): Promise<void> {
  await withStore(path, storeInit(options), async (store) => {
    const event = await setTag(store, name, id)
    if (options.json === true) await writeJson({ name, event: event?.id ?? null, changed: event !== undefined })
  })
}
