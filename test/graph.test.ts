import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { reindex, verifyStore } from '../src/index.ts'
import { blobIdOf, expectError, expectOk, lines, seed, snap, withLibrary } from './_helpers/cli.ts'
import { hook, runsContext, runsIn, toyCommand, toyOutput } from './_helpers/runs.ts'
import { dumpDerived, specSuite } from './_helpers/store.ts'
import type { Run } from './_helpers/cli.ts'
import type { RunsContext } from './_helpers/runs.ts'

// ---------------------------------------------------------------- a minimal, strict XML reader

/** An element of a parsed XML document. */
interface XmlElement {
  name: string
  attrs: Record<string, string>
  children: XmlElement[]
}

const NAME = '[A-Za-z_][A-Za-z0-9_.:-]*'
const ENTITY = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);/g

/** Throws a plain Error (not an uvu Assertion, which assert.throws would pass through) unless `ok`. */
function check (ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(`not well-formed XML: ${message}`)
}

function unescapeXml (text: string, where: string): string {
  check(!/[&<]/.test(text.replace(ENTITY, '')), `a bare & or < in ${where}: ${text}`)
  return text.replace(ENTITY, (entity) => ({ '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" })[entity] ?? String.fromCodePoint(Number(entity.startsWith('&#x') ? `0x${entity.slice(3, -1)}` : entity.slice(2, -1))))
}

/**
 * Parses a whole XML document, failing on anything not well-formed: one root element, every start tag
 * closed by a matching end tag, attributes quoted, unique and escaped, no bare & or < in text. (No XML
 * parser is installed; this covers what GEXF uses: a declaration, elements, attributes, text.)
 */
function parseXml (text: string): XmlElement {
  let at = 0
  const declaration = /^<\?xml\s+version="1\.[0-9]"(?:\s+encoding="[A-Za-z0-9._-]+")?(?:\s+standalone="(?:yes|no)")?\s*\?>/.exec(text)
  if (declaration !== null) at = declaration[0].length
  const stack: XmlElement[] = []
  let root: XmlElement | undefined
  const tag = new RegExp(`^<(/?)(${NAME})((?:\\s+${NAME}\\s*=\\s*"[^"]*")*)\\s*(/?)>`)
  const attr = new RegExp(`(${NAME})\\s*=\\s*"([^"]*)"`, 'g')
  while (at < text.length) {
    const next = text.indexOf('<', at)
    const chunk = text.slice(at, next < 0 ? text.length : next)
    if (stack.length === 0) check(/^\s*$/.test(chunk), `text outside the root element: ${JSON.stringify(chunk.slice(0, 40))}`)
    else unescapeXml(chunk, `<${stack.at(-1)!.name}>`)
    if (next < 0) break
    at = next
    if (text.startsWith('<!--', at)) {
      const end = text.indexOf('-->', at)
      check(end > 0, 'an unterminated comment')
      at = end + 3
      continue
    }
    const match = tag.exec(text.slice(at))
    check(match !== null, `not a well-formed tag at offset ${at}: ${JSON.stringify(text.slice(at, at + 60))}`)
    const [whole, closing, name, attrText, selfClosing] = match
    at += whole.length
    if (closing === '/') {
      check(attrText === '' && selfClosing === '', `a malformed end tag </${name!}>`)
      const open = stack.pop()
      check(open?.name === name, `</${name!}> closes <${open?.name ?? 'nothing'}>`)
      continue
    }
    const element: XmlElement = { name: name!, attrs: {}, children: [] }
    for (const [, key, value] of attrText!.matchAll(attr)) {
      check(!(key! in element.attrs), `attribute ${key!} repeated in <${name!}>`)
      element.attrs[key!] = unescapeXml(value!, `attribute ${key!} of <${name!}>`)
    }
    if (stack.length > 0) stack.at(-1)!.children.push(element)
    else {
      check(root === undefined, `a second root element <${name!}>`)
      root = element
    }
    if (selfClosing !== '/') stack.push(element)
  }
  check(stack.length === 0, `<${stack.at(-1)?.name ?? ''}> is never closed`)
  check(root !== undefined, 'no root element')
  return root
}

function child (element: XmlElement, name: string): XmlElement {
  const found = element.children.filter((c) => c.name === name)
  assert.is(found.length, 1, `<${element.name}> has one <${name}>`)
  return found[0]!
}

/** The value of a GEXF element's `kind` attvalue. */
function kindOf (element: XmlElement): string | undefined {
  return child(element, 'attvalues').children.find((c) => c.attrs['for'] === 'kind')?.attrs['value']
}

/** The nodes and edges of a GEXF document, after checking it is well-formed XML shaped as GEXF. */
function gexf (text: string): { nodes: Array<{ id: string, kind: string | undefined }>, edges: Array<{ source: string, target: string, label: string, kind: string | undefined }> } {
  const root = parseXml(text)
  assert.is(root.name, 'gexf')
  assert.match(root.attrs['xmlns'] ?? '', /^http:\/\/(www\.)?gexf\.net\//)
  const graph = child(root, 'graph')
  const nodes = child(graph, 'nodes').children.map((n) => ({ id: n.attrs['id']!, kind: kindOf(n) }))
  const edges = child(graph, 'edges').children.map((e) => ({ source: e.attrs['source']!, target: e.attrs['target']!, label: e.attrs['label'] ?? '', kind: kindOf(e) }))
  const ids = new Set(nodes.map((n) => n.id))
  assert.is(ids.size, nodes.length, 'node ids are unique')
  for (const edge of edges) assert.ok(ids.has(edge.source) && ids.has(edge.target), `edge ${edge.source} -> ${edge.target} joins two nodes`)
  return { nodes, edges }
}

const XmlReader = specSuite('the test\'s XML reader')

XmlReader('parseXml() accepts a well-formed document and rejects unbalanced tags, bare ampersands and two roots', () => {
  const ok = parseXml('<?xml version="1.0" encoding="UTF-8"?>\n<a x="1 &amp; 2"><b/><c>t &lt; u</c></a>\n')
  assert.equal(ok, { name: 'a', attrs: { x: '1 & 2' }, children: [{ name: 'b', attrs: {}, children: [] }, { name: 'c', attrs: {}, children: [] }] })
  for (const bad of ['<a><b></a></b>', '<a x="1 & 2"/>', '<a/><b/>', '<a>', '<a x=1/>', '<a>x < y</a>', '<a x="1" x="2"/>']) {
    assert.throws(() => parseXml(bad), undefined, `rejects ${bad}`)
  }
})

XmlReader.run()

// ---------------------------------------------------------------- the lineage of a store

interface GraphContext extends RunsContext {
  other: string
  segments: string[]
  ends: string[]
  failed: string
  resumed: string
  resumedEnd: string
  out: Record<string, Run>
}

const DOT_EDGE = /^ {2}"([^"]+)" -> "([^"]+)" \[label="([^"]*)", style=(solid|dashed|dotted)\];$/

const Graph = specSuite<GraphContext>('snapstore graph and show --lineage', {} as GraphContext)
Graph.before(hook(async (ctx) => {
  Object.assign(ctx, await runsContext())
  ctx.other = (await seed(ctx.store, [{ kind: 'snapshot', content: 'state B\n' }]))[0]!
  // A three-segment trajectory from the start; from the other snapshot, a run that fails and its resumption.
  const [trajectory, failing] = await Promise.all([
    snap(['run', ctx.store, '--from', ctx.start, '--param', 'cycles=1', '--segments', '3', '--trajectory', '1', '--seed-base', '6', '--', ...toyCommand]),
    snap(['run', ctx.store, '--from', ctx.other, '--param', 'cycles=1', '--', '/bin/false'])
  ])
  expectOk(trajectory)
  assert.is(failing.status, 1)
  const runs = await runsIn(ctx.store)
  ctx.segments = runs.filter((r) => r['batch'] !== null).map((r) => String(r['run']))
  ctx.ends = runs.filter((r) => r['batch'] !== null).map((r) => String(r['end']))
  ctx.failed = String(runs.find((r) => r['status'] === 'failed')?.['run'])
  expectOk(await snap(['resume', ctx.store, ctx.failed, '--', ...toyCommand]))
  const resumed = (await runsIn(ctx.store)).find((r) => r['continues'] === ctx.failed)!
  ctx.resumed = String(resumed['run'])
  ctx.resumedEnd = String(resumed['end'])
  const cases: Record<string, string[]> = {
    dot: ['graph', ctx.store, '--format', 'dot'],
    mermaid: ['graph', ctx.store, '--format', 'mermaid'],
    gexf: ['graph', ctx.store, '--format', 'gexf'],
    ofRun: ['graph', ctx.store, ctx.segments[1]!, '--format', 'gexf'],
    ofSnapshot: ['graph', ctx.store, ctx.other, '--format', 'gexf'],
    lineage: ['show', ctx.store, ctx.ends[2]!, '--lineage'],
    resumedLineage: ['show', ctx.store, ctx.resumedEnd, '--lineage'],
    unknown: ['graph', ctx.store, blobIdOf('not here')],
    badFormat: ['graph', ctx.store, '--format', 'svg']
  }
  ctx.out = {}
  const names = Object.keys(cases)
  for (let i = 0; i < names.length; i += 3) {
    const chunk = names.slice(i, i + 3)
    const done = await Promise.all(chunk.map(async (name) => await snap(cases[name]!)))
    chunk.forEach((name, j) => { ctx.out[name] = done[j]! })
  }
}))
Graph.after(hook(async (ctx) => { await ctx.dispose() }))

Graph('graph --format dot is a digraph: a solid edge per run from start to end, a dashed edge per checkpoint, a dotted continues link', ({ out, start, other, segments, ends, failed, resumed, resumedEnd }) => {
  expectOk(out['dot']!)
  assert.is(resumedEnd, blobIdOf(toyOutput('state B\n', 1)))
  const all = lines(out['dot']!.stdout)
  assert.match(all[0]!, /^digraph \w+ \{$/)
  assert.is(all.at(-1), '}')
  const edges = all.filter((line) => line.includes(' -> ')).map((line) => {
    const match = DOT_EDGE.exec(line)
    assert.ok(match !== null, `not a DOT edge: ${line}`)
    return { from: match[1]!, to: match[2]!, label: match[3]!, style: match[4]! }
  })
  const solid = edges.filter((e) => e.style === 'solid')
  assert.is(solid.length, 5, 'one solid edge per run')
  const edgeOf = (run: string): { from: string, to: string, label: string } => {
    const found = solid.filter((e) => e.label.startsWith(`run ${run.slice(0, 12)}`))
    assert.is(found.length, 1, `one edge for run ${run}`)
    return found[0]!
  }
  segments.forEach((run, i) => {
    const edge = edgeOf(run)
    assert.equal([edge.from, edge.to], [i === 0 ? start : ends[i - 1], ends[i]])
    assert.match(edge.label, /completed cycles=1$/)
  })
  const failedEdge = edgeOf(failed)
  assert.equal([failedEdge.from, failedEdge.to], [other, `run:${failed}`])
  assert.match(failedEdge.label, / failed /)
  const resumedEdge = edgeOf(resumed)
  assert.equal([resumedEdge.from, resumedEdge.to], [other, resumedEnd])
  const dashed = edges.filter((e) => e.style === 'dashed')
  assert.equal(dashed.map((e) => [e.from, e.to, e.label]).sort(), [
    [start, ends[0], 'cycle 1'], [ends[0], ends[1], 'cycle 1'], [ends[1], ends[2], 'cycle 1'], [other, resumedEnd, 'cycle 1']
  ].sort())
  const dotted = edges.filter((e) => e.style === 'dotted')
  assert.equal(dotted.map((e) => [e.from, e.to]), [[`run:${failed}`, other]])
})

Graph('graph --format mermaid is a flowchart with the same edges: --> for runs, -.-> for checkpoints', ({ out }) => {
  expectOk(out['mermaid']!)
  const all = lines(out['mermaid']!.stdout)
  assert.is(all[0], 'flowchart LR')
  const nodes = all.filter((line) => /^ {2}n\d+(\["|\(\[")/.test(line))
  assert.is(nodes.length, 7, 'six snapshots and the failed run')
  const arrows = all.slice(1 + nodes.length).map((line) => /^ {2}n\d+ (-->|-\.->|==>)\|"[^"]*"\| n\d+$/.exec(line)?.[1])
  assert.equal(arrows.filter((a) => a === undefined), [], 'every other line is an edge')
  assert.equal([arrows.filter((a) => a === '-->').length, arrows.filter((a) => a === '-.->').length, arrows.filter((a) => a === '==>').length], [5, 4, 1])
})

Graph('graph --format gexf is well-formed XML with one node per snapshot (and per run without an end) and an edge per run', async ({ out, store, failed, segments, resumed }) => {
  expectOk(out['gexf']!)
  const { nodes, edges } = gexf(out['gexf']!.stdout)
  const snapshots = await snap(['ls', 'snapshots', store])
  assert.equal(nodes.filter((n) => n.kind === 'snapshot').map((n) => n.id).sort(), lines(snapshots.stdout).sort())
  assert.equal(nodes.filter((n) => n.kind !== 'snapshot').map((n) => n.id), [`run:${failed}`])
  const runEdges = edges.filter((e) => e.kind === 'run')
  assert.is(runEdges.length, (await runsIn(store)).length)
  for (const run of [...segments, failed, resumed]) assert.is(runEdges.filter((e) => e.label.includes(run.slice(0, 12))).length, 1, `one edge for run ${run}`)
  assert.is(edges.filter((e) => e.kind === 'checkpoint').length, 4)
  assert.is(edges.filter((e) => e.kind === 'continues').length, 1)
})

Graph('graph STORE RUN is restricted to the connected history of that run', ({ out, start, ends }) => {
  expectOk(out['ofRun']!)
  const { nodes, edges } = gexf(out['ofRun']!.stdout)
  assert.equal(nodes.map((n) => n.id).sort(), [start, ...ends].sort())
  assert.is(edges.filter((e) => e.kind === 'run').length, 3, 'the three segments of the trajectory, nothing from the other snapshot')
})

Graph('graph STORE SNAPSHOT is restricted to the history connected to that snapshot', ({ out, other, failed, resumedEnd }) => {
  expectOk(out['ofSnapshot']!)
  const { nodes, edges } = gexf(out['ofSnapshot']!.stdout)
  assert.equal(nodes.map((n) => n.id).sort(), [other, `run:${failed}`, resumedEnd].sort())
  assert.equal(edges.map((e) => e.kind).sort(), ['checkpoint', 'continues', 'run', 'run'])
})

Graph('show SNAPSHOT --lineage prints the chain of runs back to the root snapshot', ({ out, start, segments, ends }) => {
  expectOk(out['lineage']!)
  const all = lines(out['lineage']!.stdout)
  assert.is(all[0], `${start}  root`)
  const runLines = all.filter((line) => line.startsWith('  run '))
  assert.equal(runLines.map((line) => line.split(/\s+/)[2]), segments)
  assert.equal(runLines.map((line) => /seed (\d+)/.exec(line)?.[1]), ['60100', '60101', '60102'])
  assert.equal(all.slice(1).filter((line) => !line.startsWith(' ')).map((line) => line.split(/\s+/)[0]), ends)
})

Graph('show --lineage of a resumed run\'s end names the run it continues', ({ out, other, failed, resumed }) => {
  expectOk(out['resumedLineage']!)
  const all = lines(out['resumedLineage']!.stdout)
  assert.is(all[0], `${other}  root`)
  const runLine = all.find((line) => line.startsWith('  run '))
  assert.match(runLine ?? '', `run ${resumed}`)
  assert.match(runLine ?? '', `continues ${failed}`)
})

Graph('graph of an unknown id is E_NOT_FOUND, and an unknown --format a usage error', ({ out }) => {
  expectError(out['unknown']!, 'E_NOT_FOUND')
  expectError(out['badFormat']!, 'E_USAGE')
})

Graph('labels are escaped for each format: GEXF holds no character XML cannot, Mermaid no HTML; a snapshot without runs is a graph of one node', async ({ dir }) => {
  const store = join(dir, 'names.store')
  expectOk(await snap(['init', store]))
  const file = join(dir, 'named.state')
  await writeFile(file, 'named')
  const added = await snap(['add', 'snapshot', store, file, '--name', 'T<tab>300 #1 & a\u0001b\tc'])
  expectOk(added)
  const id = added.stdout.trim()
  const gexfOut = await snap(['graph', store, '--format', 'gexf'])
  expectOk(gexfOut)
  assert.not.match(gexfOut.stdout, /[\x00-\x08\x0B\x0C\x0E-\x1F]/, 'no control character XML 1.0 forbids')
  assert.match(gexfOut.stdout, 'T&lt;tab&gt;300 #1 &amp; a\uFFFDb&#9;c')
  const mermaid = await snap(['graph', store, '--format', 'mermaid'])
  expectOk(mermaid)
  assert.match(mermaid.stdout, 'T#lt;tab#gt;300 #35;1 #amp; a')
  assert.not.match(mermaid.stdout, '<tab>')
  const alone = await snap(['graph', store, id, '--format', 'gexf'])
  expectOk(alone)
  assert.equal(gexf(alone.stdout).nodes.map((n) => n.id), [id])
  await writeFile(file, 'a config')
  const config = await snap(['add', 'config', store, file])
  expectOk(config)
  const ofConfig = await snap(['graph', store, config.stdout.trim(), '--format', 'gexf'])
  expectOk(ofConfig)
  assert.equal(gexf(ofConfig.stdout).nodes, [], 'a config is no snapshot node')
})

Graph('the store these runs wrote verifies, and reindex reproduces its projections byte for byte', async ({ store }) => {
  await withLibrary(store, async (s) => {
    const report = await verifyStore(s)
    assert.ok(report.ok, report.problems.join('; '))
    const incremental = await dumpDerived(s)
    assert.ok(incremental['runs']!.length === 5 && incremental['lineage']!.length > 0)
    await reindex(s)
    assert.equal(await dumpDerived(s), incremental)
  })
})

Graph.run()
