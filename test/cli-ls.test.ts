import { CID } from 'multiformats/cid'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { sealEvent, setTag } from '../src/index.ts'
import { blobIdOf, cliContext, digestOf, expectError, expectOk, jsonLines, lines, seed, snap, withLibrary } from './_helpers/cli.ts'
import { commitEvents } from './_helpers/store.ts'
import type { CliContext } from './_helpers/cli.ts'
import type { SnapEvent } from '../src/index.ts'

const Ls = suite<CliContext>('cli ls', {} as CliContext)
Ls.before.each(async (ctx) => { Object.assign(ctx, await cliContext()) })
Ls.after.each(async (ctx) => { await ctx.dispose() })

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

/** Contents whose ids sort in the reverse of the order given, so listing by id and by appearance differ. */
function reverseSorted (contents: string[]): string[] {
  return [...contents].sort((a, b) => (digestOf(blobIdOf(a)) < digestOf(blobIdOf(b)) ? 1 : -1))
}

/** A mixed store: 4 snapshots, 2 configs, 2 blobs; one blob is both a snapshot and (later) a config. */
async function mixedStore (store: string): Promise<{ snapshots: string[], configs: string[], blobs: string[] }> {
  const snaps = reverseSorted(['snap 1\n', 'snap 2\n', 'snap 3\n', 'snap 4\n'])
  const ids = await seed(store, [
    { kind: 'snapshot', content: snaps[0]! },
    { kind: 'config', content: 'config 1\n' },
    { kind: 'snapshot', content: snaps[1]! },
    { kind: 'blob', content: 'result 1\n' },
    { kind: 'snapshot', content: snaps[2]! },
    { kind: 'config', content: snaps[0]! },
    { kind: 'snapshot', content: snaps[3]! },
    { kind: 'blob', content: 'result 2\n' },
    // Seen again as a snapshot: its first appearance does not move.
    { kind: 'snapshot', content: snaps[0]!, options: { name: 'renamed' } }
  ])
  return { snapshots: [ids[0]!, ids[2]!, ids[4]!, ids[6]!], configs: [ids[1]!, ids[5]!], blobs: [ids[3]!, ids[7]!] }
}

for (const [what, key] of [['snapshots', 'snapshots'], ['configs', 'configs'], ['blobs', 'blobs']] as const) {
  Ls(`ls ${what} prints one id per line, only that kind, in order of first appearance`, async ({ store }) => {
    const expected = (await mixedStore(store))[key]
    expectOk(await snap(['ls', what, store]), expected.join('\n') + '\n')
  })
}

Ls('ls of an empty store prints nothing and succeeds', async ({ store }) => {
  expectOk(await snap(['ls', 'snapshots', store]), '')
})

Ls('ls tags prints name<TAB>id for each tag', async ({ store }) => {
  const [a, b] = await seed(store, [{ kind: 'snapshot', content: 'a' }, { kind: 'config', content: 'b' }])
  await withLibrary(store, async (s) => {
    await setTag(s, 'alpha', a!)
    await setTag(s, 'beta', b!)
  })
  expectOk(await snap(['ls', 'tags', store]), `alpha\t${a}\nbeta\t${b}\n`)
})

// DESIGN 5: ls "lists in order of first appearance" for every list, tags included.
Ls('ls tags lists tags in order of first appearance', async ({ store }) => {
  const [a, b] = await seed(store, [{ kind: 'snapshot', content: 'a' }, { kind: 'config', content: 'b' }])
  await withLibrary(store, async (s) => {
    await setTag(s, 'zeta', a!)
    await setTag(s, 'alpha', b!)
  })
  expectOk(await snap(['ls', 'tags', store]), `zeta\t${a}\nalpha\t${b}\n`)
})

Ls('ls origins prints origin<TAB>seq with the number of events of the store', async ({ store }) => {
  await seed(store, [{ kind: 'snapshot', content: 'a' }, { kind: 'snapshot', content: 'b' }, { kind: 'blob', content: 'c' }])
  const origin = await withLibrary(store, async (s) => s.origin)
  expectOk(await snap(['ls', 'origins', store]), `${origin}\t3\n`)
})

// DESIGN 5: origins too are listed in order of first appearance. A second origin is written the way a merge would.
Ls('ls origins lists origins in order of first appearance', async ({ store }) => {
  const [a] = await seed(store, [{ kind: 'snapshot', content: 'a' }])
  const foreign = '0'.repeat(32)
  const own = await withLibrary(store, async (s) => {
    const target = CID.parse(a!)
    const event = { v: 1, type: 'tag.set', origin: foreign, seq: 1, prev: null, clock: s.clock + 1, time: Date.now(), host: 'elsewhere', body: { name: 'remote', target } } as SnapEvent
    await commitEvents(s, [sealEvent(event)])
    return s.origin
  })
  expectOk(await snap(['ls', 'origins', store]), `${own}\t1\n${foreign}\t1\n`)
})

Ls('ls snapshots -l prints a header line, then id, size, name, added, origin, tags and shared bytes per blob', async ({ store }) => {
  const [first, second] = await seed(store, [
    { kind: 'snapshot', content: 'twelve bytes', options: { name: 'start' } },
    { kind: 'snapshot', content: 'x', options: { tag: 'best' } }
  ])
  await withLibrary(store, async (s) => { await setTag(s, 'alias', second!) })
  const origin = await withLibrary(store, async (s) => s.origin)
  const run = await snap(['ls', 'snapshots', store, '-l'])
  expectOk(run)
  const [header, ...rows] = lines(run.stdout)
  assert.is(header, 'id\tsize\tname\tadded\torigin\ttags\tshared')
  assert.is(rows.length, 2)
  const cells = rows.map((row) => row.split('\t'))
  assert.equal(cells.map((c) => [c[0], c[1], c[2], c[4], c[5], c[6]]), [
    [first, '12', 'start', origin, '-', '0'],
    [second, '1', '-', origin, 'alias,best', '0']
  ])
  for (const c of cells) {
    assert.is(c.length, 7)
    assert.match(c[3]!, ISO)
  }
})

Ls('ls tags --long and ls origins -l print a header line, then tab-separated columns', async ({ store }) => {
  const [a] = await seed(store, [{ kind: 'snapshot', content: 'a', options: { tag: 'best' } }])
  const origin = await withLibrary(store, async (s) => s.origin)
  const tags = await snap(['ls', 'tags', store, '--long'])
  expectOk(tags)
  const [tagHeader, ...tagRows] = lines(tags.stdout)
  assert.is(tagHeader, 'name\tid\tclock\torigin\tseq')
  assert.equal(tagRows, [`best\t${a}\t2\t${origin}\t2`])
  const origins = await snap(['ls', 'origins', store, '-l'])
  expectOk(origins)
  const [originHeader, ...originRows] = lines(origins.stdout)
  assert.is(originHeader, 'origin\tseq\thead\tself')
  assert.is(originRows.length, 1)
  const cells = originRows[0]!.split('\t')
  assert.equal([cells[0], cells[1], cells[3]], [origin, '2', 'yes'])
  assert.match(cells[2]!, /^bafyrei[a-z2-7]{52}$/)
})

Ls('ls snapshots --json prints one JSON object per blob, in order of first appearance', async ({ store }) => {
  const contents = reverseSorted(['one', 'two', 'three'])
  const ids = await seed(store, contents.map((content, i) => ({ kind: 'snapshot' as const, content, options: { name: `n${i}`, meta: { i: String(i) } } })))
  const origin = await withLibrary(store, async (s) => s.origin)
  const run = await snap(['ls', 'snapshots', store, '--json'])
  expectOk(run)
  const records = jsonLines(run.stdout)
  assert.equal(records.map((r) => [r['id'], r['size'], r['name'], r['meta'], r['origin'], r['seq'], r['kinds'], r['tags']]),
    ids.map((id, i) => [id, contents[i]!.length, `n${i}`, { i: String(i) }, origin, i + 1, ['snapshot'], []]))
  for (const r of records) assert.match(String(r['added']), ISO)
})

Ls('ls tags --json and ls origins --json print one JSON object per line', async ({ store }) => {
  const [a] = await seed(store, [{ kind: 'snapshot', content: 'a', options: { tag: 'best' } }])
  const origin = await withLibrary(store, async (s) => s.origin)
  const tags = await snap(['ls', 'tags', store, '--json'])
  expectOk(tags)
  assert.equal(jsonLines(tags.stdout).map((r) => [r['name'], r['id'], r['origin'], r['seq']]), [['best', a, origin, 2]])
  const origins = await snap(['ls', 'origins', store, '--json'])
  expectOk(origins)
  assert.equal(jsonLines(origins.stdout).map((r) => [r['origin'], r['seq'], r['self']]), [[origin, 2, true]])
})

Ls('ls of an unknown list fails with E_USAGE, exit 2', async ({ store }) => {
  expectError(await snap(['ls', 'snapshot', store]), 'E_USAGE')
})

Ls.run()
