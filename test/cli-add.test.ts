import { spawnSync } from 'node:child_process'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { CHUNKING, chunkEnds, iterateLog, listBlobs, listTags } from '../src/index.ts'
import { CLI, distinctChunkBytes } from './_helpers/store.ts'
import {
  blobIdOf, cliContext, digestOf, dumpStore, expectError, expectOk, jsonLines, lines, noise, put, seed, sha256Hex, snap, withLibrary
} from './_helpers/cli.ts'
import type { CliContext } from './_helpers/cli.ts'
import type { StoredEvent } from '../src/index.ts'

const Add = suite<CliContext>('cli add', {} as CliContext)
Add.before.each(async (ctx) => { Object.assign(ctx, await cliContext()) })
Add.after.each(async (ctx) => { await ctx.dispose() })

async function events (path: string): Promise<StoredEvent[]> {
  return await withLibrary(path, async (store) => {
    const out: StoredEvent[] = []
    for await (const event of iterateLog(store)) out.push(event)
    return out
  })
}

Add('add snapshot prints one bafkrei id per line, in argument order, whose digest is the sha-256 of the file', async ({ dir, store }) => {
  // The large file spans several chunks: its id must still be the digest of the whole file.
  const contents = [Buffer.from('state one\n'), noise(CHUNKING.max * 2 + 12345, 'large'), Buffer.from('state three\n')]
  const files = await Promise.all(contents.map(async (content, i) => await put(dir, `state-${i}.bin`, content)))
  const run = await snap(['add', 'snapshot', store, ...files])
  expectOk(run)
  const ids = lines(run.stdout)
  assert.is(ids.length, 3)
  ids.forEach((id, i) => {
    assert.match(id, /^bafkrei[a-z2-7]{52}$/)
    const cid = CID.parse(id)
    assert.is(cid.version, 1)
    assert.is(cid.code, 0x55, 'codec raw')
    assert.is(cid.multihash.code, 0x12, 'sha2-256')
    assert.is(digestOf(id), sha256Hex(contents[i]!))
  })
  const listed = await withLibrary(store, async (s) => {
    const out: Array<{ id: string, size: number, name: string | undefined }> = []
    for await (const blob of listBlobs(s, 'snapshot')) out.push({ id: blob.id.toString(), size: blob.size, name: blob.name })
    return out
  })
  assert.equal(listed, ids.map((id, i) => ({ id, size: contents[i]!.length, name: `state-${i}.bin` })))
})

Add('add reads standard input for "-", in its place among the files', async ({ dir, store }) => {
  const a = await put(dir, 'a.txt', 'file a\n')
  const b = await put(dir, 'b.txt', 'file b\n')
  const run = await snap(['add', 'blob', store, a, '-', b], { input: 'from stdin\n' })
  expectOk(run, [blobIdOf('file a\n'), blobIdOf('from stdin\n'), blobIdOf('file b\n')].join('\n') + '\n')
  assert.equal((await events(store)).map((e) => e.event.type), ['blob.add', 'blob.add', 'blob.add'])
})

Add('add of many small files, one given twice and two sharing chunks, prints every id in order and records each blob once', async ({ dir, store }) => {
  // Files are stored a few ahead of the one being recorded: the repeat and the shared chunks are stored at the same time as their first.
  const shared = noise(CHUNKING.max * 2, 'shared')
  const contents = [
    ...Array.from({ length: 6 }, (_, i) => Buffer.from(`small state ${i}\n`)),
    Buffer.concat([shared, Buffer.from('tail a')]),
    Buffer.concat([shared, Buffer.from('tail b')])
  ]
  const files = await Promise.all(contents.map(async (content, i) => await put(dir, `f-${i}.bin`, content)))
  const given = [files[0]!, files[6]!, files[1]!, files[0]!, files[7]!, ...files.slice(2, 6)]
  const run = await snap(['add', 'snapshot', store, ...given])
  expectOk(run)
  assert.equal(lines(run.stdout).map(digestOf), given.map((file) => sha256Hex(contents[files.indexOf(file)]!)))
  assert.equal((await events(store)).map((e) => digestOf(e.event.type === 'blob.add' ? e.event.body.blob.toString() : '')), [...new Set(lines(run.stdout))].map(digestOf))
  const show = await snap(['show', store, '--json'])
  expectOk(show)
  const totals = JSON.parse(show.stdout) as { storedBytes: number, packBytes: number }
  const chunks = new Set(contents.flatMap((content) => {
    let from = 0
    return chunkEnds(content).map((end) => sha256Hex(content.subarray(from, from = end)))
  }))
  assert.is(totals.storedBytes, distinctChunkBytes(contents))
  // Each pack begins with 12 bytes, and each chunk in it with 36 (README, Store format): no chunk is written twice.
  assert.is(totals.packBytes, 12 + 36 * chunks.size + totals.storedBytes)
  expectOk(await snap(['verify', store]), `ok: 8 events, 8 blobs\n`)
})

Add('add of many files on a terminal counts them on stderr, clears that line, and prints only ids on stdout', async ({ dir, store }) => {
  if (spawnSync('script', ['--version']).status !== 0) return
  const files = await Promise.all(Array.from({ length: 40 }, async (_, i) => await put(dir, `t-${i}.bin`, `terminal state ${i}\n`)))
  const ids = join(dir, 'ids.txt')
  // script(1) runs the command on a pseudo-terminal and copies what it shows; stdout goes to a file.
  const command = [process.execPath, CLI, 'add', 'snapshot', store, ...files].map((arg) => `'${arg}'`).join(' ') + ` > '${ids}'`
  const shown = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8' })
  assert.is(shown.status, 0, shown.stdout)
  assert.match(shown.stdout, /\r\x1b\[Kadded: \d+ of 40/)
  assert.ok(shown.stdout.trimEnd().endsWith('\r\x1b[K'), 'the count is cleared at the end')
  assert.equal(lines(await readFile(ids, 'utf8')), files.map((_, i) => blobIdOf(`terminal state ${i}\n`)))
})

Add('adding bytes already stored prints the same id and records no new event', async ({ dir, store }) => {
  const [id] = await seed(store, [{ kind: 'snapshot', content: 'same bytes\n' }])
  const before = await dumpStore(store)
  // Another file name, same bytes: still nothing new.
  const copy = await put(dir, 'copy.bin', 'same bytes\n')
  const run = await snap(['add', 'snapshot', store, copy])
  expectOk(run, `${id}\n`)
  const log = await snap(['log', store])
  expectOk(log)
  assert.is(lines(log.stdout).length, 1)
  assert.equal(await dumpStore(store), before)
})

Add('add --json prints one object per file and says whether it recorded an event', async ({ dir, store }) => {
  const file = await put(dir, 'twice.txt', 'twice\n')
  const run = await snap(['add', 'config', store, file, file, '--json'])
  expectOk(run)
  const records = jsonLines(run.stdout)
  assert.equal(records.map((r) => [r['id'], r['kind'], r['size'], r['file'], r['recorded']]), [
    [blobIdOf('twice\n'), 'config', 6, file, true],
    [blobIdOf('twice\n'), 'config', 6, file, false]
  ])
})

Add('add --name, repeated --meta and --tag are recorded with the blob', async ({ dir, store }) => {
  const file = await put(dir, 'state.bin', 'equilibrated state\n')
  const run = await snap(['add', 'snapshot', store, file, '--name', 'état équilibré', '--meta', 'temp=300', '--meta', 'note=a=b', '--tag', 'best'])
  const id = blobIdOf('equilibrated state\n')
  expectOk(run, `${id}\n`)
  const ls = await snap(['ls', 'snapshots', store, '--json'])
  expectOk(ls)
  const [record, ...rest] = jsonLines(ls.stdout)
  assert.is(rest.length, 0)
  assert.is(record?.['id'], id)
  assert.is(record?.['name'], 'état équilibré')
  assert.equal(record?.['meta'], { temp: '300', note: 'a=b' })
  assert.equal(record?.['tags'], ['best'])
  const tags = await withLibrary(store, async (s) => {
    const out: string[] = []
    for await (const tag of listTags(s)) out.push(`${tag.name} ${tag.target.toString()}`)
    return out
  })
  assert.equal(tags, [`best ${id}`])
})

Add('add --meta keeps keys that objects inherit or treat as their prototype (__proto__, constructor)', async ({ dir, store }) => {
  const file = await put(dir, 'state.bin', 'odd keys\n')
  expectOk(await snap(['add', 'snapshot', store, file, '--meta', '__proto__=1', '--meta', 'constructor=2', '--meta', 'toString=3']))
  const shown = await snap(['show', store, blobIdOf('odd keys\n'), '--json'])
  expectOk(shown)
  const meta = (JSON.parse(shown.stdout) as { meta: object }).meta
  // Entries, not objects: deep equality would not see an own "__proto__" key.
  assert.equal(Object.entries(meta).sort(), [['__proto__', '1'], ['constructor', '2'], ['toString', '3']])
})

Add('add --tag with two files fails with E_USAGE, exit 2, and records nothing', async ({ dir, store }) => {
  const a = await put(dir, 'a', 'a')
  const b = await put(dir, 'b', 'b')
  const before = await dumpStore(store)
  expectError(await snap(['add', 'snapshot', store, a, b, '--tag', 'best']), 'E_USAGE')
  assert.equal(await dumpStore(store), before)
})

Add('add of an unknown kind fails with E_USAGE, exit 2, and records nothing', async ({ dir, store }) => {
  const a = await put(dir, 'a', 'a')
  const before = await dumpStore(store)
  expectError(await snap(['add', 'result', store, a]), 'E_USAGE')
  assert.equal(await dumpStore(store), before)
})

Add('add --meta without "=" fails with E_USAGE and records nothing', async ({ dir, store }) => {
  const a = await put(dir, 'a', 'a')
  const before = await dumpStore(store)
  expectError(await snap(['add', 'blob', store, a, '--meta', 'temp']), 'E_USAGE')
  assert.equal(await dumpStore(store), before)
})

Add('add with "-" twice fails with E_USAGE', async ({ store }) => {
  expectError(await snap(['add', 'blob', store, '-', '-'], { input: 'x' }), 'E_USAGE')
})

Add('add of a missing file fails with E_NOT_FOUND and leaves the store unchanged', async ({ dir, store }) => {
  await seed(store, [{ kind: 'snapshot', content: 'already here' }])
  const before = await dumpStore(store)
  const message = expectError(await snap(['add', 'snapshot', store, join(dir, 'missing.bin')]), 'E_NOT_FOUND')
  assert.ok(message.includes(join(dir, 'missing.bin')), message)
  assert.equal(await dumpStore(store), before)
})

Add('add of a directory fails with E_BAD_INPUT and leaves the store unchanged', async ({ dir, store }) => {
  await seed(store, [{ kind: 'snapshot', content: 'already here' }])
  const folder = join(dir, 'folder')
  await mkdir(folder)
  const before = await dumpStore(store)
  expectError(await snap(['add', 'snapshot', store, folder]), 'E_BAD_INPUT')
  assert.equal(await dumpStore(store), before)
})

Add('when one file of several is missing or a directory, none is stored and nothing is printed', async ({ dir, store }) => {
  await seed(store, [{ kind: 'snapshot', content: 'already here' }])
  const a = await put(dir, 'a.bin', 'first\n')
  const c = await put(dir, 'c.bin', 'after the bad one\n')
  const folder = join(dir, 'folder')
  await mkdir(folder)
  const before = await dumpStore(store)
  const missing = await snap(['add', 'snapshot', store, a, join(dir, 'missing.bin'), c])
  expectError(missing, 'E_NOT_FOUND')
  assert.match(missing.stderr, /missing\.bin": no such file/)
  expectError(await snap(['add', 'snapshot', store, a, folder, c]), 'E_BAD_INPUT')
  assert.equal(await dumpStore(store), before)
})

Add('when a file of several fails while it is read, the files before it stay stored and only their ids are printed', async ({ dir, store }) => {
  const a = await put(dir, 'a.bin', 'first\n')
  const b = await put(dir, 'b.bin', 'second\n')
  const c = await put(dir, 'c.bin', 'after the failing one\n')
  // Opening /proc/self/mem succeeds; reading it from offset 0 fails with EIO.
  const run = await snap(['add', 'snapshot', store, a, b, '/proc/self/mem', c])
  assert.is(run.status, 1)
  assert.is(run.stdout, `${blobIdOf('first\n')}\n${blobIdOf('second\n')}\n`)
  assert.match(run.stderr, /^snapstore: E_BAD_INPUT: Cannot add "\/proc\/self\/mem": input\/output error\n$/)
  const ls = await snap(['ls', 'snapshots', store])
  expectOk(ls, run.stdout)
  assert.equal((await events(store)).map((e) => e.event.seq), [1, 2])
})

Add('adding a named blob again with only new metadata keeps its name', async ({ dir, store }) => {
  const file = await put(dir, 'state.bin', 'a state\n')
  const id = (await snap(['add', 'snapshot', store, file, '--name', 'equilibrated'])).stdout.trim()
  expectOk(await snap(['add', 'snapshot', store, file, '--meta', 'temperature=300']), `${id}\n`)
  const shown = JSON.parse((await snap(['show', store, id, '--json'])).stdout) as { name?: string, meta?: Record<string, string> }
  assert.is(shown.name, 'equilibrated')
  assert.equal(shown.meta, { temperature: '300' })
})

Add.run()
