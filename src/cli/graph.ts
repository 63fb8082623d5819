import { buildGraph, renderGraph } from '../runs/graph.ts'
import { resolveId } from '../resolve.ts'
import { withStore } from '../store.ts'
import { storeInit } from './context.ts'
import { writeJson, writeLine } from './output.ts'
import type { GraphFormat } from '../runs/graph.ts'
import type { StoreCommandOptions } from './context.ts'

/** Options of `snapstore graph`. */
export interface GraphOptions extends StoreCommandOptions {
  format: GraphFormat
}

/** `snapstore graph STORE [--format dot|gexf|mermaid] [ID]`: the lineage graph as text. */
export async function graph (path: string, idText: string | undefined, options: GraphOptions): Promise<void> {
  const built = await withStore(path, storeInit(options), async (store) => await buildGraph(store, idText === undefined ? undefined : await resolveId(store, idText, 'any')))
  if (options.json === true) {
    for (const node of built.nodes) await writeJson({ node })
    for (const edge of built.edges) await writeJson({ edge })
  } else {
    await writeLine(renderGraph(built, options.format))
  }
}
