import { spawnSync } from 'node:child_process'
import { readFile, readdir, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { cliContext, digestOf, expectError, expectOk, jsonLines, lines, put, seed, snap } from './_helpers/cli.ts'
import { specSuite } from './_helpers/store.ts'
import type { CliContext } from './_helpers/cli.ts'

interface Ctx extends CliContext {
  ids: string[]
}

const HAS_SHA256SUM = spawnSync('sha256sum', ['--version']).status === 0

/** Runs the real `sha256sum -c` on `sums` inside `dir`. */
function sha256sumCheck (dir: string, sums: string): { status: number | null, stdout: string } {
  const run = spawnSync('sha256sum', ['-c', '-'], { cwd: dir, input: sums, encoding: 'utf8' })
  return { status: run.status, stdout: run.stdout }
}

const Exports = specSuite<Ctx>('cli verifiable exports', {} as Ctx)
Exports.before.each(async (ctx) => {
  Object.assign(ctx, await cliContext())
  ctx.ids = await seed(ctx.store, [
    { kind: 'snapshot', content: 'state one\n' },
    { kind: 'snapshot', content: 'state two\n' },
    { kind: 'config', content: 'dt = 0.002\n' }
  ])
})
Exports.after.each(async (ctx) => { await ctx.dispose() })

Exports('ls snapshots --sha256sums prints "<sha-256>  <id>" lines in order of first appearance', async ({ store, ids }) => {
  expectOk(await snap(['ls', 'snapshots', store, '--sha256sums']), ids.slice(0, 2).map((id) => `${digestOf(id)}  ${id}\n`).join(''))
  expectOk(await snap(['ls', 'configs', store, '--sha256sums']), `${digestOf(ids[2]!)}  ${ids[2]!}\n`)
})

Exports('get --all DIR writes every snapshot named by its id, and a SHA256SUMS that sha256sum -c accepts', async ({ dir, store, ids }) => {
  if (!HAS_SHA256SUM) assert.unreachable('sha256sum (GNU coreutils) is needed for this test and is missing')
  const out = join(dir, 'snapshots')
  expectOk(await snap(['get', 'snapshot', store, '--all', out]), '')
  assert.equal((await readdir(out)).sort(), ['SHA256SUMS', ...ids.slice(0, 2)].sort())
  assert.is(await readFile(join(out, ids[0]!), 'utf8'), 'state one\n')
  const listed = (await snap(['ls', 'snapshots', store, '--sha256sums'])).stdout
  assert.is(await readFile(join(out, 'SHA256SUMS'), 'utf8'), listed)
  const check = sha256sumCheck(out, listed)
  assert.is(check.status, 0, check.stdout)
  assert.equal(lines(check.stdout), ids.slice(0, 2).map((id) => `${id}: OK`))
  await writeFile(join(out, ids[1]!), 'tampered\n')
  assert.is.not(sha256sumCheck(out, listed).status, 0, 'sha256sum -c notices a changed file')
})

Exports('get --all with an ID, or with no ID and no --all, is a usage error', async ({ dir, store, ids }) => {
  expectError(await snap(['get', 'snapshot', store, ids[0]!, '--all', dir]), 'E_USAGE')
  expectError(await snap(['get', 'snapshot', store]), 'E_USAGE')
  expectError(await snap(['ls', 'runs', store, '--sha256sums']), 'E_USAGE')
})

Exports('add --fingerprint records the platform with the user\'s --meta; show prints it and ls --where selects by it', async ({ dir, store, ids }) => {
  const file = await put(dir, 'result.bin', 'computed here\n')
  const [id] = lines((await snap(['add', 'snapshot', store, file, '--fingerprint', '--meta', 'experiment=7'])).stdout)
  const shown = (await snap(['show', store, id!])).stdout
  for (const field of ['host', 'platform', 'release', 'arch', 'cpu', 'cores', 'node']) assert.match(shown, `meta.fingerprint.${field}`)
  const [blob] = jsonLines((await snap(['ls', 'snapshots', store, '--json', '--where', `meta.fingerprint.host=${hostname()}`])).stdout)
  assert.is(blob!['id'], id)
  assert.equal(blob!['meta'], { ...(blob!['meta'] as object), experiment: '7', 'fingerprint.node': process.version, 'fingerprint.host': hostname() })
  expectOk(await snap(['ls', 'snapshots', store, '--where', 'meta.fingerprint.cores>=1', '--where', 'meta.experiment=7']), `${id!}\n`)
  // As for params, a name a blob lacks satisfies only !=.
  expectOk(await snap(['ls', 'snapshots', store, '--where', 'meta.experiment!=7']), ids.slice(0, 2).join('\n') + '\n')
  expectError(await snap(['ls', 'snapshots', store, '--where', 'params.experiment=7']), 'E_BAD_INPUT')
})

Exports.run()
