import { spawn } from 'node:child_process'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readBlobBytes } from '../src/index.ts'
import { CLI, tempDir } from './_helpers/store.ts'
import { cliContext, digestOf, expectOk, lines, noise, put, sha256Hex, snap, withLibrary } from './_helpers/cli.ts'
import type { CliContext } from './_helpers/cli.ts'

// Enough bytes (about 160 MiB) that the add is still storing files well after its first ids are printed
// (ids are printed every 200 ms), so each kill lands mid-run.
const FILES = 100
const KIB = 1024
/** Small files `add` stores ahead of the one it records (README, A short tour). */
const STORED_AHEAD = 7

interface Ctx extends CliContext {
  /** Shared by every test of the suite: 100 files of 200 KiB to 3 MiB, and their sha-256. */
  inputs: { dir: string, dispose: () => Promise<void> }
  files: string[]
  digests: string[]
}

const Crash = suite<Ctx>('cli add killed with SIGKILL', {} as Ctx)
Crash.before(async (ctx) => {
  ctx.inputs = await tempDir()
  ctx.files = []
  ctx.digests = []
  for (let i = 0; i < FILES; i++) {
    // Sizes spread over 200 KiB … 3 MiB, some of them whole MiB.
    const size = i % 10 === 9 ? (1 + (i % 3)) * 1024 * KIB : 200 * KIB + ((i * 7919 * 4099) % (2872 * KIB))
    const bytes = noise(size, `crash file ${i}`)
    ctx.files.push(await put(ctx.inputs.dir, `state-${String(i).padStart(2, '0')}.bin`, bytes))
    ctx.digests.push(sha256Hex(bytes))
  }
})
Crash.after(async (ctx) => { await ctx.inputs.dispose() })
Crash.before.each(async (ctx) => { Object.assign(ctx, await cliContext()) })
Crash.after.each(async (ctx) => { await ctx.dispose() })

/** Bytes in the store's pack files, where snapshot bytes are written before the database names them. */
async function packBytes (store: string): Promise<number> {
  const packs = join(store, 'packs')
  let total = 0
  for (const name of await readdir(packs).catch(() => [] as string[])) {
    if (name.endsWith('.pack')) total += (await stat(join(packs, name)).catch(() => ({ size: 0 }))).size
  }
  return total
}

/**
 * Runs `snapstore add snapshot STORE f1 … f100` and kills it with SIGKILL once `shouldKill` says so
 * (checked on every piece of stdout, and every few milliseconds). Returns every whole line it printed.
 */
async function addUntilKilled (store: string, files: readonly string[], shouldKill: (printed: number) => Promise<boolean>): Promise<{ ids: string[], signal: NodeJS.Signals | null, stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'add', 'snapshot', store, ...files], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let killed = false
  let checking = false
  const check = async (): Promise<void> => {
    if (killed || checking) return
    checking = true
    try {
      if (await shouldKill(out.split('\n').length - 1) && !killed) {
        killed = true
        child.kill('SIGKILL')
      }
    } finally {
      checking = false
    }
  }
  child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); void check() })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const poll = setInterval(() => { void check() }, 3)
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, sig) => resolve(sig)))
  clearInterval(poll)
  const whole = out.slice(0, out.lastIndexOf('\n') + 1)
  return { ids: lines(whole), signal, stderr: err }
}

/** After the kill: the store opens, verifies, lists the printed ids first, and gives back their exact bytes. */
async function checkSurvivors (ctx: Ctx, ids: readonly string[]): Promise<void> {
  ids.forEach((id, i) => assert.is(digestOf(id), ctx.digests[i], `printed id ${i} is not the digest of file ${i}`))

  const verify = await snap(['verify', ctx.store])
  expectOk(verify)
  const ok = /^ok: (\d+) events, (\d+) blobs\n$/.exec(verify.stdout)
  assert.ok(ok !== null, verify.stdout)
  const [events, blobs] = [Number(ok[1]), Number(ok[2])]
  // Ids are printed once a sync covers them, so files stored after the last sync may be there unprinted.
  assert.ok(events >= ids.length && events <= ctx.digests.length, `${events} events for ${ids.length} printed ids`)
  // add stores small files up to seven ahead of the one it records: the one under way and those may be stored unrecorded.
  assert.ok(blobs >= events && blobs <= events + 1 + STORED_AHEAD, `${blobs} blobs for ${events} events`)

  const ls = await snap(['ls', 'snapshots', ctx.store])
  expectOk(ls)
  const listed = lines(ls.stdout)
  assert.is(listed.length, events)
  assert.equal(listed.slice(0, ids.length), [...ids])

  // Every printed id reads back whole through the library (which re-hashes what it reads); the last one,
  // written closest to the kill, also through the CLI.
  const read = await withLibrary(ctx.store, async (store) => {
    const digests: string[] = []
    for (const id of ids) digests.push(sha256Hex(await readBlobBytes(store, CID.parse(id))))
    return digests
  })
  assert.equal(read, ctx.digests.slice(0, ids.length))
  const last = ids.at(-1)
  if (last !== undefined) {
    const got = await snap(['get', 'snapshot', ctx.store, last])
    assert.is(got.stderr, '')
    assert.is(got.status, 0)
    assert.is(sha256Hex(got.out), ctx.digests[ids.length - 1], `bytes of ${last}`)
  }
}

for (const after of [1, 5, 12]) {
  Crash(`add killed after printing ${after} ids keeps every printed id, whole and verified`, async (ctx) => {
    const { ids, signal, stderr } = await addUntilKilled(ctx.store, ctx.files, async (printed) => printed >= after)
    assert.is(signal, 'SIGKILL', `the add was not killed: ${stderr}`)
    assert.ok(ids.length >= after && ids.length < FILES, `${ids.length} ids printed`)
    await checkSurvivors(ctx, ids)
  })
}

Crash('add killed as the first file\'s bytes reach the packs leaves a store that verifies', async (ctx) => {
  const start = await packBytes(ctx.store)
  const { ids, signal, stderr } = await addUntilKilled(ctx.store, ctx.files, async () => (await packBytes(ctx.store)) > start + 100 * KIB)
  assert.is(signal, 'SIGKILL', `the add was not killed: ${stderr}`)
  assert.ok(ids.length < FILES)
  await checkSurvivors(ctx, ids)
})

Crash('add rerun after a kill completes, prints every id in order and records each file once', async (ctx) => {
  const { ids, signal } = await addUntilKilled(ctx.store, ctx.files, async (printed) => printed >= 3)
  assert.is(signal, 'SIGKILL')
  const rerun = await snap(['add', 'snapshot', ctx.store, ...ctx.files])
  expectOk(rerun)
  const all = lines(rerun.stdout)
  assert.equal(all.map(digestOf), ctx.digests)
  assert.equal(all.slice(0, ids.length), ids)
  expectOk(await snap(['verify', ctx.store]), `ok: ${FILES} events, ${FILES} blobs\n`)
})

Crash.run()
