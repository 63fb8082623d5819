import { UsageError } from '../errors.ts'
import { DAG_CBOR } from '../ids.ts'
import { describeBlob, listBlobIds } from '../query.ts'
import { producersOf, runsFrom } from './lineage.ts'
import { describeRun, listRuns, requireRun } from './query.ts'
import { CID } from 'multiformats/cid'
import type { Store } from '../store.ts'
import type { RunInfo } from './query.ts'

/** A node of the lineage graph: a snapshot, or a run that ended without one. */
export interface GraphNode {
  id: string
  label: string
  kind: 'snapshot' | 'run' | 'start'
}

/** An edge: a run from its start to its end, a checkpoint of a run, or a run continuing another. */
export interface GraphEdge {
  from: string
  to: string
  label: string
  kind: 'run' | 'checkpoint' | 'continues'
}

/** The lineage graph of a store or of one snapshot's or run's connected history. */
export interface LineageGraph {
  nodes: GraphNode[]
  edges: GraphEdge[]
}

/** The graph formats `graph` writes. */
export type GraphFormat = 'dot' | 'gexf' | 'mermaid'

/** Builds the lineage graph: of the whole store, or of everything connected to one snapshot or run. */
export async function buildGraph (store: Store, id?: CID): Promise<LineageGraph> {
  const runs = id === undefined ? await allRuns(store) : await connectedRuns(store, id)
  const nodes = new Map<string, GraphNode>()
  const edges: GraphEdge[] = []
  const snapshotNode = async (cid: CID): Promise<string> => {
    const key = cid.toString()
    if (!nodes.has(key)) {
      const name = (await describeBlob(store, cid))?.name
      nodes.set(key, { id: key, label: name === undefined ? short(key) : `${short(key)} ${name}`, kind: 'snapshot' })
    }
    return key
  }
  if (id === undefined) for await (const snapshot of listBlobIds(store, 'snapshot')) await snapshotNode(CID.parse(snapshot))
  // A snapshot no run started from or ended at is its own graph, of one node.
  else if (id.code !== DAG_CBOR && (await describeBlob(store, id))?.kinds.includes('snapshot') === true) await snapshotNode(id)
  for (const run of runs) {
    const runKey = run.id.toString()
    let source: string
    if (run.start.from !== undefined) {
      source = await snapshotNode(run.start.from)
    } else {
      source = `start:${runKey}`
      nodes.set(source, { id: source, label: 'no start snapshot', kind: 'start' })
    }
    let target: string
    if (run.end !== undefined) {
      target = await snapshotNode(run.end.snapshot)
    } else {
      target = `run:${runKey}`
      nodes.set(target, { id: target, label: `run ${short(runKey)} ${run.status}`, kind: 'run' })
    }
    edges.push({ from: source, to: target, label: runLabel(run), kind: 'run' })
    for (const checkpoint of run.checkpoints) {
      edges.push({ from: source, to: await snapshotNode(checkpoint.snapshot), label: checkpoint.cycle === undefined ? 'checkpoint' : `cycle ${checkpoint.cycle}`, kind: 'checkpoint' })
    }
    if (run.start.continues !== undefined) {
      const continued = `run:${run.start.continues.toString()}`
      if (!nodes.has(continued)) nodes.set(continued, { id: continued, label: `run ${short(run.start.continues.toString())}`, kind: 'run' })
      edges.push({ from: continued, to: source, label: 'continues', kind: 'continues' })
    }
  }
  return { nodes: [...nodes.values()], edges }
}

function runLabel (run: RunInfo): string {
  const params = Object.entries(run.start.params).map(([k, v]) => `${k}=${String(v)}`).join(' ')
  return [`run ${short(run.id.toString())}`, run.status, params].filter(Boolean).join(' ')
}

function short (id: string): string {
  return id.length > 16 ? `${id.slice(0, 12)}…${id.slice(-4)}` : id
}

async function allRuns (store: Store): Promise<RunInfo[]> {
  const runs: RunInfo[] = []
  for await (const run of listRuns(store)) runs.push(run)
  return runs
}

/** Every run reachable from `id` through start, end and checkpoint snapshots and continues links. */
async function connectedRuns (store: Store, id: CID): Promise<RunInfo[]> {
  const runs = new Map<string, RunInfo>()
  const snapshots: CID[] = []
  const seenSnapshots = new Set<string>()
  const addSnapshot = (cid: CID | undefined): void => {
    if (cid === undefined || seenSnapshots.has(cid.toString())) return
    seenSnapshots.add(cid.toString())
    snapshots.push(cid)
  }
  const addRun = async (cid: CID): Promise<void> => {
    if (runs.has(cid.toString())) return
    const run = await describeRun(store, cid)
    if (run === undefined) return
    runs.set(cid.toString(), run)
    addSnapshot(run.start.from)
    addSnapshot(run.end?.snapshot)
    for (const checkpoint of run.checkpoints) addSnapshot(checkpoint.snapshot)
    if (run.start.continues !== undefined) await addRun(run.start.continues)
  }
  if (id.code === DAG_CBOR) await addRun((await requireRun(store, id)).id)
  else addSnapshot(id)
  while (snapshots.length > 0) {
    const snapshot = snapshots.pop()!
    for (const run of await runsFrom(store, snapshot)) await addRun(run)
    for (const { run } of await producersOf(store, snapshot)) await addRun(run)
  }
  return [...runs.values()].sort((a, b) => a.started - b.started)
}

/** Renders the graph as Graphviz DOT, GEXF (Gephi) or a Mermaid flowchart. */
export function renderGraph (graph: LineageGraph, format: GraphFormat): string {
  switch (format) {
    case 'dot': return renderDot(graph)
    case 'gexf': return renderGexf(graph)
    case 'mermaid': return renderMermaid(graph)
    default: throw new UsageError(`Unknown graph format "${String(format)}": expected dot, gexf or mermaid`)
  }
}

function renderDot ({ nodes, edges }: LineageGraph): string {
  const quote = (text: string): string => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
  const style = { run: 'solid', checkpoint: 'dashed', continues: 'dotted' }
  return [
    'digraph lineage {',
    '  rankdir=LR;',
    '  node [shape=box, fontname="monospace"];',
    ...nodes.map((n) => `  ${quote(n.id)} [label=${quote(n.label)}${n.kind === 'snapshot' ? '' : ', shape=ellipse'}];`),
    ...edges.map((e) => `  ${quote(e.from)} -> ${quote(e.to)} [label=${quote(e.label)}, style=${style[e.kind]}];`),
    '}'
  ].join('\n')
}

function renderMermaid ({ nodes, edges }: LineageGraph): string {
  const ids = new Map(nodes.map((n, i) => [n.id, `n${i}`]))
  // Mermaid reads labels as HTML, with #…; entity codes: a name such as "T<tab>300" must not become a tag.
  const text = (s: string): string => s.replace(/[#"<>&]/g, (c) => MERMAID_ENTITIES[c]!)
  const arrow = { run: '-->', checkpoint: '-.->', continues: '==>' }
  return [
    'flowchart LR',
    ...nodes.map((n) => `  ${ids.get(n.id)!}${n.kind === 'snapshot' ? `["${text(n.label)}"]` : `(["${text(n.label)}"])`}`),
    ...edges.map((e) => `  ${ids.get(e.from)!} ${arrow[e.kind]}|"${text(e.label)}"| ${ids.get(e.to)!}`)
  ].join('\n')
}

// String.prototype.toWellFormed is in Node 20, not yet in the ES library this project compiles against.
type WellFormed = string & { toWellFormed: () => string }

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' }
const MERMAID_ENTITIES: Record<string, string> = { '#': '#35;', '"': '#quot;', '<': '#lt;', '>': '#gt;', '&': '#amp;' }

function renderGexf ({ nodes, edges }: LineageGraph): string {
  // Tabs and line breaks as character references (an XML parser turns raw ones in attributes into spaces);
  // the other control characters, which XML 1.0 cannot hold at all, and unpaired surrogates as U+FFFD.
  const xml = (s: string): string => (s as WellFormed).toWellFormed().replace(/[&<>"\t\n\r\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/g, (c) => XML_ESCAPES[c] ?? '\uFFFD')
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<gexf xmlns="http://gexf.net/1.3" version="1.3">',
    '  <graph defaultedgetype="directed">',
    '    <attributes class="node"><attribute id="kind" title="kind" type="string"/></attributes>',
    '    <attributes class="edge"><attribute id="kind" title="kind" type="string"/></attributes>',
    '    <nodes>',
    ...nodes.map((n) => `      <node id="${xml(n.id)}" label="${xml(n.label)}"><attvalues><attvalue for="kind" value="${n.kind}"/></attvalues></node>`),
    '    </nodes>',
    '    <edges>',
    ...edges.map((e, i) => `      <edge id="e${i}" source="${xml(e.from)}" target="${xml(e.to)}" label="${xml(e.label)}"><attvalues><attvalue for="kind" value="${e.kind}"/></attvalues></edge>`),
    '    </edges>',
    '  </graph>',
    '</gexf>'
  ].join('\n')
}
