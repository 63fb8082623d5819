import { spawn, spawnSync } from 'node:child_process'
import { lstat, readdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { CHUNKING } from '../src/index.ts'
import {
  chunkDigests, cliContext, digestOf, expectError, expectOk, noise, seed, sha256Hex, snap, tamperChunk
} from './_helpers/cli.ts'
import { CLI } from './_helpers/store.ts'
import type { CliContext } from './_helpers/cli.ts'

interface Ctx extends CliContext {
  large: Buffer
  largeId: string
  smallId: string
}

const SMALL = 'a small config\n'
/** Three chunks: two whole ones and a short last one. */
const LARGE = noise(CHUNKING.max * 2 + 777, 'get large')

const Get = suite<Ctx>('cli get', {} as Ctx)
Get.before.each(async (ctx) => {
  Object.assign(ctx, await cliContext())
  ctx.large = LARGE
  const [largeId, smallId] = await seed(ctx.store, [
    { kind: 'snapshot', content: LARGE, options: { tag: 'latest' } },
    { kind: 'config', content: SMALL }
  ])
  ctx.largeId = largeId!
  ctx.smallId = smallId!
})
Get.after.each(async (ctx) => { await ctx.dispose() })

Get('get writes exactly the bytes of a multi-chunk snapshot to stdout', async ({ store, large, largeId }) => {
  const run = await snap(['get', 'snapshot', store, largeId])
  assert.is(run.stderr, '')
  assert.is(run.status, 0)
  assert.ok(run.out.equals(large), 'stdout differs from the bytes added')
  assert.is(sha256Hex(run.out), digestOf(largeId))
})

Get('get -o FILE writes exactly the bytes to FILE and nothing to stdout', async ({ dir, store, large, largeId }) => {
  const target = join(dir, 'out.bin')
  expectOk(await snap(['get', 'snapshot', store, largeId, '-o', target]), '')
  assert.ok((await readFile(target)).equals(large))
  assert.equal((await readdir(dir)).sort(), ['out.bin', 'store'])
})

const WAYS: Array<[string, (c: Ctx) => string]> = [
  ['its full CID', (c) => c.smallId],
  ['a CID prefix', (c) => c.smallId.slice(0, 14)],
  ['its full hex digest', (c) => digestOf(c.smallId)],
  ['an 8-character hex digest prefix', (c) => digestOf(c.smallId).slice(0, 8)]
]
for (const [way, idOf] of WAYS) {
  Get(`get resolves a config by ${way}`, async (ctx) => {
    expectOk(await snap(['get', 'config', ctx.store, idOf(ctx)]), SMALL)
  })
}

Get('get resolves a tag name', async ({ store, large }) => {
  const run = await snap(['get', 'snapshot', store, 'latest'])
  assert.is(run.status, 0)
  assert.ok(run.out.equals(large))
})

Get('get of a prefix shorter than 8 characters fails with E_BAD_INPUT', async ({ store, smallId }) => {
  const [hex, cid] = await Promise.all([digestOf(smallId).slice(0, 7), smallId.slice(0, 7)].map(async (prefix) => await snap(['get', 'config', store, prefix])))
  expectError(hex!, 'E_BAD_INPUT', 'hex prefix')
  expectError(cid!, 'E_BAD_INPUT', 'CID prefix')
})

Get('get of an unknown id fails with E_NOT_FOUND', async ({ store }) => {
  const unknown = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
  const message = expectError(await snap(['get', 'blob', store, unknown]), 'E_NOT_FOUND')
  assert.ok(message.includes(unknown), message)
  expectError(await snap(['get', 'blob', store, 'ffffffffff']), 'E_NOT_FOUND')
})

Get('get of an id stored as another kind fails with E_NOT_FOUND', async ({ store, smallId }) => {
  expectError(await snap(['get', 'snapshot', store, smallId]), 'E_NOT_FOUND')
})

Get('get of an ambiguous CID prefix fails with E_AMBIGUOUS listing every candidate', async ({ store }) => {
  // "bafkrei" + 1 character fixes only 3 bits of the digest: these 16 blobs share such prefixes.
  const ids = await seed(store, Array.from({ length: 16 }, (_, i) => ({ kind: 'blob' as const, content: `blob ${i}\n` })))
  const lowest = [...ids].sort((a, b) => (digestOf(a) < digestOf(b) ? -1 : 1))[0]!
  const prefix = lowest.slice(0, 8)
  const candidates = ids.filter((id) => id.startsWith(prefix))
  assert.ok(candidates.length >= 2, 'the fixture must make the prefix ambiguous')
  const message = expectError(await snap(['get', 'blob', store, prefix]), 'E_AMBIGUOUS')
  for (const id of candidates) assert.ok(message.includes(id), `${id} missing from: ${message}`)
  for (const id of ids.filter((i) => !candidates.includes(i))) assert.not.ok(message.includes(id), `${id} is not a candidate`)
})

// An 8-character CID prefix fixes only 3 bits of the digest: a resolver that cuts its digest scan off
// (at 11 keys) before filtering on the CID string never finds blobs sorting after the first 11 digests.
Get('get resolves a unique 8-character CID prefix whatever the number of blobs before it', async ({ store }) => {
  const contents = Array.from({ length: 16 }, (_, i) => `blob ${i}\n`)
  const ids = await seed(store, contents.map((content) => ({ kind: 'blob' as const, content })))
  const sorted = [...ids].sort((a, b) => (digestOf(a) < digestOf(b) ? -1 : 1))
  const target = sorted.slice(11).find((id) => ids.filter((other) => other.startsWith(id.slice(0, 8))).length === 1)
  assert.ok(target !== undefined, 'the fixture must have a unique 8-character prefix beyond the first 11 digests')
  expectOk(await snap(['get', 'blob', store, target.slice(0, 8)]), contents[ids.indexOf(target)])
})

Get('get of a blob whose chunk was tampered with fails with E_CORRUPT naming both digests', async ({ store, smallId }) => {
  const [chunk] = await chunkDigests(store, smallId)
  assert.is(chunk, digestOf(smallId), 'a single-chunk blob is stored under its own digest')
  const tampered = await tamperChunk(store, chunk!)
  const message = expectError(await snap(['get', 'config', store, smallId]), 'E_CORRUPT')
  assert.ok(message.includes(digestOf(smallId)), `expected digest missing: ${message}`)
  assert.ok(message.includes(sha256Hex(tampered)), `computed digest missing: ${message}`)
})

Get('get -o FILE of a tampered blob fails with E_CORRUPT and creates no file', async ({ dir, store, smallId }) => {
  await tamperChunk(store, digestOf(smallId))
  const target = join(dir, 'out.txt')
  expectError(await snap(['get', 'config', store, smallId, '-o', target]), 'E_CORRUPT')
  assert.equal(await readdir(dir), ['store'])
})

Get('get -o FILE of a multi-chunk blob with a tampered last chunk fails with E_CORRUPT and creates no file', async ({ dir, store, largeId }) => {
  const chunks = await chunkDigests(store, largeId)
  assert.ok(chunks.length >= 3, `${chunks.length} chunks`)
  await tamperChunk(store, chunks.at(-1)!)
  const target = join(dir, 'out.bin')
  expectError(await snap(['get', 'snapshot', store, largeId, '-o', target]), 'E_CORRUPT')
  assert.equal(await readdir(dir), ['store'])
})

// DESIGN 5 and README "Errors": on failure, nothing on stdout that could be mistaken for a result. get streams
// each chunk once it verified that chunk alone, so the chunks before a tampered one are already out.
Get('get to stdout of a multi-chunk blob with a tampered middle chunk fails with E_CORRUPT and writes no bytes', async ({ store, largeId }) => {
  const chunks = await chunkDigests(store, largeId)
  await tamperChunk(store, chunks[1]!)
  const run = await snap(['get', 'snapshot', store, largeId])
  assert.is(run.out.length, 0, 'bytes reached stdout before the damage was found')
  expectError(run, 'E_CORRUPT')
})

Get('get whose reader goes away exits 0 without an error line', async ({ store, largeId }) => {
  const child = spawn(process.execPath, [CLI, 'get', 'snapshot', store, largeId], { stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.destroy()
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  assert.is(stderr, '')
  assert.is(status, 0)
})

Get('get -o into a missing directory, or below a file, fails with E_BAD_INPUT in one plain line', async ({ dir, store, smallId }) => {
  const missing = expectError(await snap(['get', 'config', store, smallId, '-o', join(dir, 'no', 'such', 'file')]), 'E_BAD_INPUT')
  assert.match(missing, /no such file or directory$/)
  assert.not.match(missing, /snapstore-\d+\.tmp/, 'the message names the file asked for, not a temporary one')
  await writeFile(join(dir, 'a-file'), 'x')
  const below = expectError(await snap(['get', 'config', store, smallId, '-o', join(dir, 'a-file', 'x')]), 'E_BAD_INPUT')
  assert.match(below, /a part of the path is not a directory$/)
})

Get('get -o through a symbolic link writes the file it points at and keeps the link', async ({ dir, store, smallId }) => {
  const real = join(dir, 'real.txt')
  await writeFile(real, 'old content')
  const link = join(dir, 'link')
  await symlink(real, link)
  expectOk(await snap(['get', 'config', store, smallId, '-o', link]), '')
  assert.ok((await lstat(link)).isSymbolicLink())
  assert.is(await readFile(real, 'utf8'), SMALL)
})

Get('get -o into a named pipe writes the bytes into it and leaves the pipe in place', async ({ dir, store, largeId, large }) => {
  const fifo = join(dir, 'pipe')
  const made = spawnSync('mkfifo', [fifo])
  assert.is(made.status, 0, 'mkfifo is available')
  const [run, received] = await Promise.all([snap(['get', 'snapshot', store, largeId, '-o', fifo]), readFile(fifo)])
  expectOk(run, '')
  assert.ok(received.equals(large))
  assert.ok((await lstat(fifo)).isFIFO())
})

Get('get --json -o FILE prints the id, file and sha-256; --json without -o is a usage error', async ({ dir, store, smallId }) => {
  const target = join(dir, 'small.out')
  const run = await snap(['get', 'config', store, smallId, '-o', target, '--json'])
  expectOk(run)
  assert.equal(JSON.parse(run.stdout), { id: smallId, file: target, sha256: digestOf(smallId) })
  expectError(await snap(['get', 'config', store, smallId, '--json']), 'E_USAGE')
})

// An empty blob has no chunks: a reader that prefetches chunk 0 regardless crashes on an unhandled rejection.
Get('get of an empty blob writes zero bytes and succeeds', async ({ dir, store }) => {
  const [empty] = await seed(store, [{ kind: 'blob', content: '' }])
  expectOk(await snap(['get', 'blob', store, empty!]), '')
  const target = join(dir, 'empty.out')
  expectOk(await snap(['get', 'blob', store, empty!, '-o', target]), '')
  assert.is((await readFile(target)).length, 0)
})

Get.run()
