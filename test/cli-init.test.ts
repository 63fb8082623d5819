import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { dumpStore, expectError, expectOk, jsonLines, put, snap, withLibrary } from './_helpers/cli.ts'
import { tempDir } from './_helpers/store.ts'

interface Ctx { dir: string, dispose: () => Promise<void> }

const Init = suite<Ctx>('cli init', {} as Ctx)
Init.before.each(async (ctx) => { Object.assign(ctx, await tempDir()) })
Init.after.each(async (ctx) => { await ctx.dispose() })

Init('init prints a 32-hex origin and creates a store with that origin', async ({ dir }) => {
  const path = join(dir, 'store')
  const run = await snap(['init', path])
  expectOk(run)
  assert.match(run.stdout, /^[0-9a-f]{32}\n$/)
  const origin = await withLibrary(path, async (store) => store.origin)
  assert.is(origin, run.stdout.trim())
})

Init('init creates a store in an existing empty directory, with a new origin each time', async ({ dir }) => {
  const first = join(dir, 'first')
  const second = join(dir, 'second')
  await mkdir(second)
  const a = await snap(['init', first])
  const b = await snap(['init', second])
  expectOk(a)
  expectOk(b)
  assert.match(b.stdout, /^[0-9a-f]{32}\n$/)
  assert.is.not(a.stdout, b.stdout)
  assert.is(await withLibrary(second, async (store) => store.origin), b.stdout.trim())
})

Init('init --json prints the origin and path as one JSON object', async ({ dir }) => {
  const path = join(dir, 'store')
  const run = await snap(['init', path, '--json'])
  expectOk(run)
  const [record, ...rest] = jsonLines(run.stdout)
  assert.is(rest.length, 0)
  assert.match(String(record?.['origin']), /^[0-9a-f]{32}$/)
  assert.is(record?.['path'], path)
})

Init('init on a non-empty directory fails with E_EXISTS and leaves it as it was', async ({ dir }) => {
  const path = join(dir, 'busy')
  await put(path, 'notes.txt', 'keep me')
  const run = await snap(['init', path])
  expectError(run, 'E_EXISTS')
  assert.equal(await readdir(path), ['notes.txt'])
})

Init('init on an existing store fails with E_EXISTS and leaves the store unchanged', async ({ dir }) => {
  const path = join(dir, 'store')
  const created = await snap(['init', path])
  expectOk(created)
  const before = await dumpStore(path)
  const run = await snap(['init', path])
  expectError(run, 'E_EXISTS')
  assert.equal(await dumpStore(path), before)
  assert.is(await withLibrary(path, async (store) => store.origin), created.stdout.trim())
})

Init('init on a path that is a file fails with E_EXISTS', async ({ dir }) => {
  const path = await put(dir, 'a-file', 'x')
  expectError(await snap(['init', path]), 'E_EXISTS')
})

Init.run()
