import { spawn } from 'node:child_process'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { CLI } from './_helpers/store.ts'

// Root reads any file whatever its mode, so as root the CLI runs as "nobody" for this suite.
const NOBODY = 65534
const asUser = process.getuid?.() === 0 ? { uid: NOBODY, gid: NOBODY } : {}

interface Ctx { dir: string }
const Unreadable = suite<Ctx>('cli add of an unreadable file', { dir: '' })

Unreadable.before.each(async (ctx) => {
  ctx.dir = await mkdtemp(join(tmpdir(), 'snapstore-unreadable-'))
  await chmod(ctx.dir, 0o777)
})
Unreadable.after.each(async (ctx) => { await rm(ctx.dir, { recursive: true, force: true }) })

async function cli (args: readonly string[]): Promise<{ status: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { ...asUser, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('error', reject)
    child.on('close', (status) => { resolve({ status, stdout, stderr }) })
  })
}

Unreadable('add of a file it may not read fails with E_BAD_INPUT and leaves the store unchanged', async ({ dir }) => {
  const store = join(dir, 'store')
  assert.is((await cli(['init', store])).status, 0)
  const secret = join(dir, 'secret.state')
  await writeFile(secret, 'not for you')
  await chmod(secret, 0o000)
  const before = await cli(['log', store])
  const run = await cli(['add', 'snapshot', store, secret])
  assert.is(run.status, 1)
  assert.is(run.stdout, '')
  assert.match(run.stderr, /^snapstore: E_BAD_INPUT: .*permission denied\n$/)
  assert.equal(await cli(['log', store]), before)
})

Unreadable.run()
