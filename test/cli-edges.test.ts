import { spawnSync } from 'node:child_process'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { CLI, specSuite } from './_helpers/store.ts'
import { blobIdOf, cliContext, expectError, expectOk, jsonLines, lines, put, seed, snap } from './_helpers/cli.ts'
import type { CliContext } from './_helpers/cli.ts'

// Inputs at the edges of what the CLI contract says: each gets its one-line error, or output that keeps its shape.

/** Runs a shell command line in which `"$NODE" "$CLI"` is the CLI, for redirections the test helpers do not make. */
function shell (line: string, env: Record<string, string>): { status: number | null, stdout: string, stderr: string } {
  const run = spawnSync('sh', ['-c', line], { env: { ...process.env, ...env, NODE: process.execPath, CLI }, encoding: 'utf8' })
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

const Edges = specSuite<CliContext>('cli edges', {} as CliContext)
Edges.before.each(async (ctx) => { Object.assign(ctx, await cliContext()) })
Edges.after.each(async (ctx) => { await ctx.dispose() })

Edges('ls -l writes a name holding tabs, newlines or backslashes escaped, so every row keeps its seven columns', async ({ dir, store }) => {
  const file = await put(dir, 'odd', 'odd bytes')
  expectOk(await snap(['add', 'snapshot', store, file, '--name', 'a\tb\nc\\d']))
  const listed = await snap(['ls', 'snapshots', store, '-l'])
  expectOk(listed)
  const row = lines(listed.stdout).at(-1)!.split('\t')
  assert.is(row.length, 7)
  assert.is(row[2], 'a\\tb\\nc\\\\d')
  assert.is(jsonLines((await snap(['ls', 'snapshots', store, '--json'])).stdout)[0]?.['name'], 'a\tb\nc\\d', 'JSON keeps the name as it is')
})

Edges('a pipe given as a file is refused at once, before anything waits on it, and a bad --tag before any byte is stored', async ({ dir, store }) => {
  const fifo = join(dir, 'fifo')
  assert.is(spawnSync('mkfifo', [fifo]).status, 0)
  assert.match(expectError(await snap(['add', 'blob', store, fifo]), 'E_BAD_INPUT'), 'not a regular file')
  const file = await put(dir, 'tagged', 'tagged bytes')
  expectError(await snap(['add', 'blob', store, file, '--tag', 'two words']), 'E_BAD_INPUT')
  const totals = await snap(['show', store, '--json'])
  expectOk(totals)
  assert.equal([jsonLines(totals.stdout)[0]?.['events'], jsonLines(totals.stdout)[0]?.['blobs']], [0, 0], 'nothing stored')
})

Edges('--where compares a number only with a number: text values and hex literals are text, and a mistyped operator is E_BAD_INPUT', async ({ dir, store }) => {
  for (const [name, value] of [['hex', '0x10'], ['sixteen', '16'], ['text', 'abc']] as const) {
    expectOk(await snap(['add', 'blob', store, await put(dir, name, name), '--meta', `v=${value}`, '--name', name]))
  }
  const names = async (where: string): Promise<string[]> => jsonLines((await snap(['ls', 'blobs', store, '--json', '--where', where])).stdout).map((blob) => String(blob['name']))
  assert.equal(await names('meta.v=16'), ['sixteen'])
  assert.equal(await names('meta.v>5'), ['sixteen'])
  assert.equal(await names('meta.v!=16'), ['hex', 'text'])
  for (const where of ['meta.v<>5', 'meta.v==16', 'meta.v>']) expectError(await snap(['ls', 'blobs', store, '--where', where]), 'E_BAD_INPUT', where)
})

Edges('log --since reads a time without a zone as UTC, wherever it runs; an impossible date, an empty --limit and show --lineage without an id are refused', async ({ store }) => {
  await seed(store, [{ kind: 'snapshot', content: 'a snapshot' }])
  const since = new Date(Date.now() - 60_000).toISOString().slice(0, 19)
  for (const zone of ['UTC', 'Asia/Tokyo', 'America/New_York']) {
    assert.is(lines((await snap(['log', store, '--since', since], { env: { TZ: zone } })).stdout).length, 1, `TZ=${zone}`)
  }
  expectError(await snap(['log', store, '--since', '2026-02-30']), 'E_BAD_INPUT')
  expectError(await snap(['log', store, '--limit', '']), 'E_BAD_INPUT')
  expectError(await snap(['show', store, '--lineage']), 'E_USAGE')
})

Edges('a tag name holding a backslash is written escaped in ls tags, ls -l and log', async ({ store }) => {
  const [id] = await seed(store, [{ kind: 'snapshot', content: 'tagged' }])
  expectOk(await snap(['tag', store, 'p\\q', id!]))
  assert.match((await snap(['ls', 'tags', store])).stdout, /^p\\\\q\t/m)
  assert.is(lines((await snap(['ls', 'snapshots', store, '-l'])).stdout)[1]!.split('\t')[5], 'p\\\\q')
  assert.match((await snap(['log', store])).stdout, 'tag.set p\\\\q -> ')
})

Edges('output that cannot be written (a full disk) is one E_BAD_INPUT line, not a stack trace', async ({ store }) => {
  await seed(store, [{ kind: 'snapshot', content: 'a snapshot' }])
  const run = shell('"$NODE" "$CLI" ls snapshots "$STORE" > /dev/full', { STORE: store })
  assert.is(run.status, 1)
  assert.match(run.stderr, /^snapstore: E_BAD_INPUT: [^\n]+\n$/)
})

Edges('an argument that is not valid UTF-8 fails with E_BAD_INPUT and creates nothing', async ({ dir }) => {
  const run = shell('cd "$DIR" && "$NODE" "$CLI" init "$(printf \'st\\376\')"', { DIR: dir })
  assert.is(run.status, 1)
  assert.match(run.stderr, /^snapstore: E_BAD_INPUT: Cannot use argument "[^\n]*": it is not valid UTF-8[^\n]*\n$/)
  assert.equal((await readdir(dir)).sort(), ['store'])
})

Edges('add - with a directory as standard input fails with E_BAD_INPUT and stores nothing', async ({ dir, store }) => {
  const run = shell('"$NODE" "$CLI" add blob "$STORE" - < "$DIR"', { STORE: store, DIR: dir })
  assert.is(run.status, 1)
  assert.match(run.stderr, /^snapstore: E_BAD_INPUT: Cannot read standard input: it is a directory\n$/)
  assert.is((await snap(['ls', 'blobs', store])).stdout, '')
})

Edges('log --since takes an ISO 8601 time only', async ({ store }) => {
  for (const since of ['1', 'tomorrow 5', 'x 2026', '2026-13']) expectError(await snap(['log', store, '--since', since]), 'E_BAD_INPUT', since)
  for (const since of ['2026-11-22', '2026-11-22T10:00:00Z', '2026-11-22T10:00:00.5+01:00']) expectOk(await snap(['log', store, '--since', since]), '', since)
})

Edges('log --merges keeps to --limit, and refuses the filters of events', async ({ dir, store }) => {
  for (const name of ['a', 'b']) {
    const source = join(dir, name)
    expectOk(await snap(['init', source]))
    await seed(source, [{ kind: 'snapshot', content: `from ${name}` }])
    expectOk(await snap(['merge', store, source]))
  }
  assert.is(lines((await snap(['log', store, '--merges'])).stdout).length, 2)
  assert.is(lines((await snap(['log', store, '--merges', '--limit', '1'])).stdout).length, 1)
  expectError(await snap(['log', store, '--merges', '--origin', 'abc']), 'E_USAGE')
})

Edges('log --run of an event that is not a run.start fails with E_NOT_FOUND', async ({ store }) => {
  await seed(store, [{ kind: 'snapshot', content: 'a snapshot' }])
  const [event] = jsonLines((await snap(['log', store, '--json'])).stdout)
  expectError(await snap(['log', store, '--run', String(event?.['id'])]), 'E_NOT_FOUND')
})

Edges('a tag cannot be named with a full id, which would always mean itself', async ({ store }) => {
  const [id] = await seed(store, [{ kind: 'snapshot', content: 'a snapshot' }])
  expectError(await snap(['tag', store, blobIdOf('other bytes'), id!]), 'E_BAD_INPUT')
})

Edges('run and sweep --json keep CMD\'s own output off standard output', async ({ dir, store }) => {
  const sim = await put(dir, 'sim.sh', '#!/bin/sh\necho "CMD talks"\necho end > "$SNAPSTORE_OUTPUT"\n')
  const command = ['sh', sim]
  const runs = [
    await snap(['run', store, '--json', '--', ...command]),
    await snap(['sweep', store, '--param', 'n=1,2', '--json', '--', ...command])
  ]
  for (const run of runs) {
    assert.is(run.status, 0, run.stderr)
    assert.ok(lines(run.stdout).every((line) => line.startsWith('{')), run.stdout)
    assert.match(run.stderr, 'CMD talks')
  }
})

Edges('numeric options quote what was typed when it is not a number; resume needs a command', async ({ store }) => {
  assert.match(expectError(await snap(['run', store, '--segments', 'abc', '--', 'true']), 'E_USAGE'), '"abc"')
  assert.match(expectError(await snap(['sweep', store, '--param', 'n=1', '--jobs', 'x', '--', 'true']), 'E_USAGE'), '"x"')
  expectError(await snap(['resume', store, 'anything']), 'E_USAGE')
})

Edges('--version is snapstore\'s own, whatever npm project runs it', async () => {
  const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  expectOk(await snap(['--version'], { env: { npm_package_version: '9.9.9' } }), `${version}\n`)
})

Edges('get -o - writes the bytes to standard output', async ({ store }) => {
  const [id] = await seed(store, [{ kind: 'snapshot', content: 'the bytes' }])
  expectOk(await snap(['get', 'snapshot', store, id!, '-o', '-']), 'the bytes')
})

Edges.run()
