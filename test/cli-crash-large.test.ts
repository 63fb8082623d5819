import { spawn } from 'node:child_process'
import { createCipheriv, createHash } from 'node:crypto'
import { open, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as assert from 'uvu/assert'
import { decode } from '../src/codec.ts'
import { listBlobIds, readBlobBytes, storeStats } from '../src/index.ts'
import { CLI, collect, specSuite } from './_helpers/store.ts'
import { cliContext, digestOf, expectOk, lines, noise, put, sha256Hex, snap, sublevel, withDb, withLibrary } from './_helpers/cli.ts'
import type { CliContext } from './_helpers/cli.ts'

const MiB = 1024 * 1024
const LARGE = 128 * MiB
const KILL_AT = 32 * MiB
const FIRST_PACK = '000001.pack'

/** Writes `size` bytes of an AES-CTR keystream seeded by `seed` to `path`, 16 MiB at a time, and returns their sha-256. */
async function writeNoiseFile (path: string, size: number, seed: string): Promise<string> {
  const cipher = createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16))
  const hash = createHash('sha256')
  const zeros = Buffer.alloc(16 * MiB)
  const handle = await open(path, 'w')
  try {
    for (let done = 0; done < size; done += zeros.length) {
      const piece = cipher.update(zeros.subarray(0, Math.min(zeros.length, size - done)))
      hash.update(piece)
      await handle.write(piece)
    }
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

/** Runs `snapstore add snapshot STORE FILE` and kills it with SIGKILL once the store's first pack holds more than `bytes`. */
async function addKilledAtPackSize (store: string, file: string, bytes: number): Promise<{ signal: NodeJS.Signals | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'add', 'snapshot', store, file], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const poll = setInterval(() => {
    void stat(join(store, 'packs', FIRST_PACK)).then((info) => { if (info.size > bytes) child.kill('SIGKILL') }, () => undefined)
  }, 2)
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, sig) => resolve(sig)))
  clearInterval(poll)
  return { signal, stdout, stderr }
}

/** The sha-256 of the first `length` bytes of a file. */
async function prefixDigest (path: string, length: number): Promise<string> {
  const handle = await open(path, 'r')
  try {
    const bytes = Buffer.alloc(length)
    const { bytesRead } = await handle.read(bytes, 0, length, 0)
    assert.is(bytesRead, length, `${path} holds at least ${length} bytes`)
    return sha256Hex(bytes)
  } finally {
    await handle.close()
  }
}

/** Every chunk location the store's database names: [pack, offset, size]. */
async function locations (store: string): Promise<Array<[number, number, number]>> {
  return await withDb(store, async (db) => {
    const out: Array<[number, number, number]> = []
    for await (const value of sublevel(db, 'chunk-at').values()) out.push(decode<[number, number, number]>(value))
    return out
  })
}

const Large = specSuite<CliContext>('cli add of a large file killed with SIGKILL', {} as CliContext)
Large.before.each(async (ctx) => { Object.assign(ctx, await cliContext()) })
Large.after.each(async (ctx) => { await ctx.dispose() })

Large('a 128 MiB add killed past 32 MiB of pack leaves a store that verifies with its earlier ids intact; a rerun appends after the unnamed bytes and verifies', async ({ dir, store }) => {
  const earlier = [noise(1000, 'small earlier'), noise(3 * MiB, 'multi-chunk earlier')]
  const before = await snap(['add', 'snapshot', store, await put(dir, 'small.bin', earlier[0]!), await put(dir, 'three.bin', earlier[1]!)])
  expectOk(before)
  const ids = lines(before.stdout)
  const file = join(dir, 'large.bin')
  const digest = await writeNoiseFile(file, LARGE, 'large state')
  const namedBefore = await locations(store)

  const killed = await addKilledAtPackSize(store, file, KILL_AT)
  assert.is(killed.signal, 'SIGKILL', `the add was not killed: ${killed.stderr}`)
  assert.is(killed.stdout, '', 'no id was printed for the killed add')
  const pack = join(store, 'packs', FIRST_PACK)
  const left = (await stat(pack)).size
  assert.ok(left > KILL_AT && left < LARGE, `the killed add left ${left} bytes in the pack`)
  assert.equal(await locations(store), namedBefore, 'the database names none of the bytes the killed add wrote')

  expectOk(await snap(['verify', store]), 'ok: 2 events, 2 blobs\n')
  await withLibrary(store, async (opened) => {
    assert.equal((await collect(listBlobIds(opened, 'snapshot'))), ids)
    for (const [i, id] of ids.entries()) assert.is(sha256Hex(await readBlobBytes(opened, CID.parse(id))), sha256Hex(earlier[i]!), `bytes of ${id}`)
    const stats = await storeStats(opened)
    assert.is(stats.packBytes, left, 'the pack bytes count the unnamed bytes')
    assert.is(stats.storedBytes, earlier[0]!.length + earlier[1]!.length, 'the stored bytes do not')
  })

  const prefix = await prefixDigest(pack, left)
  const rerun = await snap(['add', 'snapshot', store, file])
  expectOk(rerun)
  const [large] = lines(rerun.stdout)
  assert.is(digestOf(large!), digest)
  const added = (await locations(store)).filter((at) => !namedBefore.some((old) => old.join() === at.join()))
  assert.ok(added.length > 0 && added.every(([number, offset]) => number === 1 && offset >= left), 'every new chunk lies after the unnamed bytes')
  assert.is(await prefixDigest(pack, left), prefix, 'the unnamed bytes are kept as they were')
  assert.is((await stat(pack)).size, left + added.reduce((sum, [, , size]) => sum + 36 + size, 0), 'the rerun appended exactly its chunks')
  expectOk(await snap(['verify', store]), 'ok: 3 events, 3 blobs\n')
})

Large.run()
