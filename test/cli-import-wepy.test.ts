import { createHash } from 'node:crypto'
import * as assert from 'uvu/assert'
import { cliContext, dumpStore, expectError, expectOk, lines, put, snap } from './_helpers/cli.ts'
import { specSuite } from './_helpers/store.ts'
import { WEPY, expectedListings } from './_helpers/wepy.ts'
import type { CliContext } from './_helpers/cli.ts'

const ImportWepy = specSuite<CliContext>('cli import-wepy', {} as CliContext)
ImportWepy.before.each(async (ctx) => { Object.assign(ctx, await cliContext()) })
ImportWepy.after.each(async (ctx) => { await ctx.dispose() })

ImportWepy('prints one line per file with what was new, and zeros when imported again', async ({ store }) => {
  expectOk(await snap(['import-wepy', store, WEPY.root, WEPY.jobA, WEPY.master]), [
    `imported 1 snapshots, 1 configs, 0 runs from ${WEPY.root}`,
    `imported 1 snapshots, 1 configs, 1 runs from ${WEPY.jobA}`,
    `imported 1 snapshots, 1 configs, 1 runs from ${WEPY.master}`
  ].join('\n') + '\n')
  expectOk(await snap(['import-wepy', store, WEPY.master]), `imported 0 snapshots, 0 configs, 0 runs from ${WEPY.master}\n`)
  expectOk(await snap(['verify', store]), 'ok: 16 events, 8 blobs\n')
})

ImportWepy('get, show and run filters accept the wepy MD5 of a snapshot or config', async ({ store }) => {
  expectOk(await snap(['import-wepy', store, WEPY.master]))
  const wepy = expectedListings().get('master.orch.sqlite')!
  assert.is(lines((await snap(['ls', 'snapshots', store])).stdout).length, wepy.snapshots.length)
  const hash = wepy.snapshots[0]!
  const got = await snap(['get', 'snapshot', store, hash])
  assert.is(got.status, 0)
  assert.is(createHash('md5').update(got.out).digest('hex'), hash)
  assert.match((await snap(['show', store, hash])).stdout, `meta.wepy.md5  ${hash}`)
  const [start, end] = wepy.runs[0]!
  const runs = lines((await snap(['ls', 'runs', store, '--from', start, '-l'])).stdout)
  assert.is(runs.length, 1 + wepy.runs.filter(([s]) => s === start).length)
  const endId = lines((await snap(['ls', 'snapshots', store, '--where', `meta.wepy.md5=${end}`])).stdout)
  assert.equal(endId.length, 1)
  assert.ok(runs.some((row) => row.split('\t')[3] === endId[0]), 'a run ends at the end snapshot wepy listed')
})

ImportWepy('a file that is not a wepy database is E_BAD_INPUT, a missing one E_NOT_FOUND, and the store is left as it was', async ({ dir, store }) => {
  const before = await dumpStore(store)
  const text = await put(dir, 'notes.sqlite', 'these are notes, not a database\n'.repeat(40))
  assert.match(expectError(await snap(['import-wepy', store, text]), 'E_BAD_INPUT'), 'not an SQLite database')
  expectError(await snap(['import-wepy', store, `${dir}/absent.orch.sqlite`]), 'E_NOT_FOUND')
  assert.equal(await dumpStore(store), before)
})

ImportWepy('--help describes import-wepy', async () => {
  const help = await snap(['import-wepy', '--help'])
  assert.is(help.status, 0)
  assert.match(help.stdout, 'wepy orchestrator databases')
  assert.match(help.stdout, 'imported S snapshots, C configs, R runs from FILE')
})

ImportWepy.run()
