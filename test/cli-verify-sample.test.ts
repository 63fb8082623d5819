import * as assert from 'uvu/assert'
import { digestHex, parseCid } from '../src/index.ts'
import { expectError, expectOk, lines, seed, snap, tamperChunk, withDb } from './_helpers/cli.ts'
import { rawChunks, specSuite, tempDir } from './_helpers/store.ts'

interface Ctx { dir: string, store: string, ids: string[], dispose: () => Promise<void> }
const Sample = specSuite<Ctx>('verify --sample', { dir: '', store: '', ids: [], dispose: async () => undefined })

Sample.before.each(async (ctx) => {
  const { dir, dispose } = await tempDir()
  Object.assign(ctx, { dir, dispose, store: `${dir}/store` })
  expectOk(await snap(['init', ctx.store]))
  ctx.ids = await seed(ctx.store, Array.from({ length: 6 }, (_, i) => ({ kind: 'snapshot' as const, content: `state ${i} `.repeat(100) })))
})
Sample.after.each(async (ctx) => { await ctx.dispose() })

Sample('verify --sample 100 of a healthy store prints ok with every event and blob', async ({ store }) => {
  expectOk(await snap(['verify', store, '--sample', '100']), 'ok: 6 events, 6 blobs\n')
})

Sample('verify --sample 100 finds a tampered chunk, one line per problem, and exits 1', async ({ store, ids }) => {
  await tamperChunk(store, digestHex(parseCid(ids[2]!)))
  const run = await snap(['verify', store, '--sample', '100'])
  assert.is(run.status, 1)
  const problems = lines(run.stdout)
  assert.is(problems.length, 1, run.stdout)
  assert.match(problems[0]!, ids[2]!)
  assert.match(problems[0]!, 'digest mismatch')
})

Sample('verify --sample of any size finds a missing chunk: presence is checked for every chunk', async ({ store, ids }) => {
  await withDb(store, async (db) => { await rawChunks(db, store).del(digestHex(parseCid(ids[4]!))) })
  const run = await snap(['verify', store, '--sample', '1'])
  assert.is(run.status, 1)
  assert.ok(lines(run.stdout).some((line) => line.includes(ids[4]!) && line.includes('missing')), run.stdout)
})

Sample('verify --sample --json reports how many chunks were re-hashed', async ({ store }) => {
  const run = await snap(['verify', store, '--sample', '50', '--json'])
  expectOk(run)
  const report = JSON.parse(run.stdout) as { ok: boolean, sampled: { chunks: number, of: number } }
  assert.ok(report.ok)
  assert.is(report.sampled.of, 6)
  assert.ok(report.sampled.chunks >= 1 && report.sampled.chunks <= 6)
})

Sample('verify --sample outside (0, 100] is a usage error', async ({ store }) => {
  expectError(await snap(['verify', store, '--sample', '0']), 'E_USAGE')
  expectError(await snap(['verify', store, '--sample', '150']), 'E_USAGE')
})

Sample.run()
