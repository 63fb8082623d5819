import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { cliContext, expectOk, noise, snap } from './_helpers/cli.ts'
import { startCli, waitFor } from './_helpers/runs.ts'
import { specSuite } from './_helpers/store.ts'
import type { CliContext } from './_helpers/cli.ts'

// Large enough that writing it out takes far longer than noticing that the writing began.
const SIZE = 256 * 1024 * 1024

interface Ctx extends CliContext { id: string, out: string }
const Interrupt = specSuite<Ctx>('commands interrupted with SIGINT', {} as Ctx)

Interrupt.before(async (ctx) => {
  Object.assign(ctx, await cliContext())
  const file = join(ctx.dir, 'state.bin')
  await writeFile(file, noise(SIZE, 'interrupted'))
  const added = await snap(['add', 'snapshot', ctx.store, file])
  expectOk(added)
  ctx.id = added.stdout.trim()
  ctx.out = join(ctx.dir, 'out')
})
Interrupt.after(async (ctx) => { await ctx.dispose() })

/** Starts the command, sends SIGINT once a temporary file appears in `dir`, and returns what the process did. */
async function interruptWhileWriting (args: string[], dir: string): Promise<{ status: number | null, stderr: string }> {
  const live = startCli(args)
  try {
    await waitFor('a temporary file', async () => (await readdir(dir)).some((name) => name.includes('.snapstore-')) ? true : undefined, 30)
    live.signal('SIGINT')
    return await live.done
  } finally {
    await live.cleanUp()
  }
}

Interrupt('get -o interrupted with SIGINT exits 130 and leaves neither the file nor its temporary file', async ({ store, id, out }) => {
  const run = await interruptWhileWriting(['get', 'snapshot', store, id, '-o', join(out, 'state.bin')], await fresh(out))
  assert.is(run.status, 130, run.stderr)
  assert.is(run.stderr, 'snapstore: interrupted\n')
  assert.equal(await readdir(out), [])
})

Interrupt('get --all interrupted with SIGINT exits 130 and leaves no temporary file', async ({ store, out }) => {
  const run = await interruptWhileWriting(['get', 'snapshot', store, '--all', out], await fresh(out))
  assert.is(run.status, 130, run.stderr)
  assert.equal(await readdir(out), [])
})

Interrupt('export interrupted with SIGINT exits 130 and leaves neither the CAR file nor its temporary file', async ({ store, out }) => {
  const run = await interruptWhileWriting(['export', store, '-o', join(out, 'all.car')], await fresh(out))
  assert.is(run.status, 130, run.stderr)
  assert.is(run.stderr, 'snapstore: interrupted\n')
  assert.equal(await readdir(out), [])
})

/** Empties (or creates) the output directory and returns it. */
async function fresh (dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir)
  return dir
}

Interrupt.run()
