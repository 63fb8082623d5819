import { createHash } from 'node:crypto'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { FORMAT_VERSION, chunkEnds } from '../src/index.ts'
import { distinctChunkBytes } from './_helpers/store.ts'
import { cliContext, expectOk, jsonLines, lines, noise, seed, snap } from './_helpers/cli.ts'
import type { CliContext } from './_helpers/cli.ts'

const MiB = 1024 * 1024

/** The chunks of `data` as the store's chunking cuts them: hex digest and size, in order. */
function chunksOf (data: Uint8Array): Array<[string, number]> {
  let from = 0
  return chunkEnds(data).map((end) => {
    const chunk: [string, number] = [createHash('sha256').update(data.subarray(from, end)).digest('hex'), end - from]
    from = end
    return chunk
  })
}

/** For each blob, the bytes of its chunks that another of the blobs also has, computed without the store. */
function expectedShared (blobs: readonly Uint8Array[]): number[] {
  const chunked = blobs.map(chunksOf)
  return chunked.map((mine, i) => mine.reduce((sum, [hex, size]) =>
    chunked.some((other, j) => j !== i && other.some(([otherHex]) => otherHex === hex)) ? sum + size : sum, 0))
}

/** Two columns, `key  value`, as `show` prints them. */
function table (text: string): Map<string, string> {
  return new Map(lines(text).map((line) => {
    const match = /^(\S+)\s{2,}(.*)$/.exec(line)
    assert.ok(match !== null, `not a "key  value" row: ${line}`)
    return [match[1]!, match[2]!]
  }))
}

interface Ctx extends CliContext {
  /** Four snapshots: a and b share their first MiB, c shares nothing, d is exactly one chunk of a. */
  blobs: Buffer[]
  ids: string[]
}

const Sharing = suite<Ctx>('cli shared bytes', {} as Ctx)
Sharing.before.each(async (ctx) => {
  Object.assign(ctx, await cliContext())
  const first = noise(MiB, 'first MiB')
  const a = Buffer.concat([first, noise(MiB, 'rest of a')])
  const b = Buffer.concat([first, noise(MiB / 2, 'rest of b')])
  const c = noise(3 * MiB, 'c')
  const ends = chunkEnds(a)
  ctx.blobs = [a, b, c, a.subarray(ends[0], ends[1])]
  ctx.ids = await seed(ctx.store, ctx.blobs.map((content) => ({ kind: 'snapshot' as const, content })))
})
Sharing.after.each(async (ctx) => { await ctx.dispose() })

Sharing('ls snapshots -l gives each blob its bytes that other blobs also use, in the last column', async ({ store, blobs, ids }) => {
  const shared = expectedShared(blobs)
  assert.ok(shared[0]! > MiB / 2 && shared[1]! > MiB / 2, 'a and b share most of their first MiB')
  assert.is(shared[2], 0, 'c shares nothing')
  assert.is(shared[3], blobs[3]!.length, 'd is one of the chunks of a')
  const run = await snap(['ls', 'snapshots', store, '-l'])
  expectOk(run)
  const [header, ...rows] = lines(run.stdout)
  assert.is(header?.split('\t').at(-1), 'shared')
  assert.equal(rows.map((row) => row.split('\t')).map((cells) => [cells[0], Number(cells[1]), Number(cells.at(-1))]),
    ids.map((id, i) => [id, blobs[i]!.length, shared[i]]))
})

Sharing('ls snapshots -l --json gives each blob a shared field; --json alone leaves it out', async ({ store, blobs, ids }) => {
  const shared = expectedShared(blobs)
  const long = await snap(['ls', 'snapshots', store, '-l', '--json'])
  expectOk(long)
  assert.equal(jsonLines(long.stdout).map((r) => [r['id'], r['size'], r['shared']]), ids.map((id, i) => [id, blobs[i]!.length, shared[i]]))
  const short = await snap(['ls', 'snapshots', store, '--json'])
  expectOk(short)
  assert.ok(jsonLines(short.stdout).every((r) => !('shared' in r)))
})

Sharing('show STORE ID gives the blob\'s size and shared bytes, in text and --json', async ({ store, blobs, ids }) => {
  const shared = expectedShared(blobs)
  for (const i of [0, 2]) {
    const run = await snap(['show', store, ids[i]!])
    expectOk(run)
    const rows = table(run.stdout)
    assert.match(rows.get('size') ?? '', `(${blobs[i]!.length} bytes)`)
    assert.match(rows.get('shared') ?? '', `(${shared[i]} bytes) also in other blobs`)
    assert.is(rows.get('chunks'), String(chunksOf(blobs[i]!).length))
  }
  const json = await snap(['show', store, ids[1]!, '--json'])
  expectOk(json)
  const [item] = jsonLines(json.stdout)
  assert.equal([item?.['size'], item?.['shared']], [blobs[1]!.length, shared[1]])
})

Sharing('show STORE gives logical, stored and pack bytes: the packs hold each distinct chunk once, with its 36-byte header', async ({ store, blobs }) => {
  const packs = join(store, 'packs')
  let packBytes = 0
  for (const name of await readdir(packs)) packBytes += (await stat(join(packs, name))).size
  const stored = distinctChunkBytes(blobs)
  const distinct = new Set(blobs.flatMap((blob) => chunksOf(blob).map(([hex]) => hex))).size
  assert.is(packBytes, 12 + 36 * distinct + stored, 'one 12-byte pack header, then each distinct chunk once')
  const run = await snap(['show', store, '--json'])
  expectOk(run)
  const [totals] = jsonLines(run.stdout)
  assert.equal([totals?.['format'], totals?.['blobs'], totals?.['logicalBytes'], totals?.['storedBytes'], totals?.['packs'], totals?.['packBytes']],
    [FORMAT_VERSION, 4, blobs.reduce((sum, blob) => sum + blob.length, 0), stored, 1, packBytes])
  const text = await snap(['show', store])
  expectOk(text)
  assert.match(table(text.stdout).get('packs') ?? '', `(${packBytes} bytes) in 1 file`)
})

Sharing.run()
