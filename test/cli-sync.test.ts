import { createServer } from 'node:http'
import * as assert from 'uvu/assert'
import { dumpDb, workspaceSuite } from './_helpers/merge.ts'
import { expectError, expectOk, jsonLines, lines, snap } from './_helpers/cli.ts'
import { NO_TOKEN, init, inspect, merged, seedStore, startServe, tokenFile } from './_helpers/sync.ts'
import type { AddressInfo } from 'node:net'
import type { Workspace } from './_helpers/merge.ts'
import type { Served } from './_helpers/sync.ts'

const TOKEN = 'a-token-for-the-sync-tests'
const KIB = 1024

function pushed (events: number, blobs: number, size: number, url: string): string {
  return `pushed ${events} events, ${blobs} blobs (${size} bytes) to ${url}\n`
}

/** `ls snapshots` and `ls tags` of a store, as printed. */
async function listings (store: string): Promise<string[]> {
  const out: string[] = []
  for (const what of ['snapshots', 'tags']) {
    const run = await snap(['ls', what, store])
    expectOk(run, undefined, `ls ${what} ${store}`)
    out.push(run.stdout)
  }
  return out
}

/** The URL of a port that was free a moment ago and that nobody listens on now. */
async function closedPortUrl (): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}

/** Two hosts' stores: `a` with three snapshots of 100 KiB, `b` with two of 150 KiB, each tagging its last as `latest`. */
async function twoHosts (ws: Workspace): Promise<{ a: string, b: string, token: string }> {
  const a = ws.path('host-a')
  const b = ws.path('host-b')
  await seedStore(a, 3, 100 * KIB, 1)
  await seedStore(b, 2, 150 * KIB, 100)
  return { a, b, token: await tokenFile(ws.dir, 'token', TOKEN) }
}

// ---------------------------------------------------------------- serve, pull, push

const Cli = workspaceSuite('snapstore serve, merge URL, push URL')
let servers: Served[] = []
Cli.after.each(async () => {
  for (const server of servers) await server.kill()
  servers = []
})

async function serve (store: string, args: readonly string[] = []): Promise<Served> {
  const server = await startServe(store, args)
  servers.push(server)
  return server
}

Cli('serve prints its URL as the first line, and SIGTERM or SIGINT stops it cleanly with exit 0', async ({ ws }) => {
  const { a } = await twoHosts(ws)
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const server = await serve(a)
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    const { status, stderr } = await server.stop(signal)
    assert.is(stderr, '', signal)
    assert.is(status, 0, signal)
  }
  servers = []
})

Cli('pull and push both ways converge: ls snapshots and ls tags are identical, and a second sync moves nothing', async ({ ws }) => {
  const { a, b, token } = await twoHosts(ws)
  const server = await serve(a, ['--token-file', token, '--allow-push'])
  const url = server.url
  // B pulls A: A's 3 snapshots and its tag; then B pushes its own 2 snapshots and tag to A.
  expectOk(await snap(['merge', b, url, '--token-file', token]), merged(4, 3, 3 * 100 * KIB, url), 'pull')
  expectOk(await snap(['push', b, url], { env: { SNAPSTORE_TOKEN: TOKEN } }), pushed(3, 2, 2 * 150 * KIB, url), 'push')
  const onA = await listings(a)
  assert.equal(await listings(b), onA, 'A (still served) and B list the same')
  assert.is(lines(onA[0]!).length, 5)
  expectOk(await snap(['merge', b, url, '--token-file', token]), merged(0, 0, 0, url), 'second pull')
  expectOk(await snap(['push', b, url, '--token-file', token]), pushed(0, 0, 0, url), 'second push')
  // And from the other side: B served, A pulls and pushes; nothing is left to move.
  const other = await serve(b, ['--allow-push'])
  expectOk(await snap(['merge', a, other.url], { env: NO_TOKEN }), merged(0, 0, 0, other.url), 'pull the other way')
  expectOk(await snap(['push', a, other.url], { env: NO_TOKEN }), pushed(0, 0, 0, other.url), 'push the other way')
  await other.stop()
  await server.stop()
  servers = []
  const [checkedA, checkedB] = [await inspect(a), await inspect(b)]
  assert.equal(checkedB, checkedA)
  assert.equal([checkedA.events, checkedA.blobs], [7, 5])
})

Cli('merge URL --json and push --json print one JSON object each', async ({ ws }) => {
  const { a, b } = await twoHosts(ws)
  const server = await serve(a, ['--allow-push'])
  const pull = await snap(['merge', b, server.url, '--json'], { env: NO_TOKEN })
  expectOk(pull)
  assert.equal(jsonLines(pull.stdout), [{ source: server.url, events: 4, blobs: 3, bytes: 3 * 100 * KIB }])
  const push = await snap(['push', b, server.url, '--json'], { env: NO_TOKEN })
  expectOk(push)
  assert.equal(jsonLines(push.stdout), [{ target: server.url, events: 3, blobs: 2, bytes: 2 * 150 * KIB }])
})

Cli('a wrong or missing token is E_AUTH for merge and push, and neither store changes', async ({ ws }) => {
  const { a, b, token } = await twoHosts(ws)
  const wrong = await tokenFile(ws.dir, 'wrong', 'not-the-token')
  const before = { a: await dumpDb(a), b: await dumpDb(b) }
  const server = await serve(a, ['--token-file', token, '--allow-push'])
  const url = server.url
  assert.match(expectError(await snap(['merge', b, url], { env: NO_TOKEN }), 'E_AUTH', 'merge without a token'), 'requires a token')
  assert.match(expectError(await snap(['merge', b, url, '--token-file', wrong]), 'E_AUTH', 'merge with a wrong token'), 'refused the token')
  assert.match(expectError(await snap(['merge', b, url], { env: { SNAPSTORE_TOKEN: 'nope' } }), 'E_AUTH', 'merge with a wrong env token'), url)
  expectError(await snap(['push', b, url], { env: NO_TOKEN }), 'E_AUTH', 'push without a token')
  expectError(await snap(['push', b, url, '--token-file', wrong]), 'E_AUTH', 'push with a wrong token')
  await server.stop()
  servers = []
  assert.equal(await dumpDb(a), before.a, 'the served store is unchanged')
  assert.equal(await dumpDb(b), before.b, 'the client store is unchanged')
})

Cli('push to a server without --allow-push is E_AUTH saying so, and the server is unchanged', async ({ ws }) => {
  const { a, b } = await twoHosts(ws)
  const before = await dumpDb(a)
  const server = await serve(a)
  assert.match(expectError(await snap(['push', b, server.url], { env: NO_TOKEN }), 'E_AUTH'), '--allow-push')
  await server.stop()
  servers = []
  assert.equal(await dumpDb(a), before)
})

Cli('a URL nobody listens on is E_NET naming it, for merge and push', async ({ ws }) => {
  const { b } = await twoHosts(ws)
  const url = await closedPortUrl()
  const before = await dumpDb(b)
  for (const args of [['merge', b, url], ['push', b, url]]) {
    const message = expectError(await snap(args, { env: NO_TOKEN }), 'E_NET', args[0])
    assert.match(message, url)
    assert.match(message, 'connection refused')
  }
  assert.equal(await dumpDb(b), before)
})

Cli('a malformed URL is E_BAD_INPUT for merge and push, and the store is unchanged', async ({ ws }) => {
  const { b } = await twoHosts(ws)
  const before = await dumpDb(b)
  for (const url of ['http://127.0.0.1:notaport', 'http://[::1', 'http://a b']) {
    for (const args of [['merge', b, url], ['push', b, url]]) assert.match(expectError(await snap(args, { env: NO_TOKEN }), 'E_BAD_INPUT', args[0]), 'Invalid URL')
  }
  assert.equal(await dumpDb(b), before)
})

Cli('serve of a missing store is E_NO_STORE and a bad port E_USAGE, printing nothing on stdout', async ({ ws }) => {
  expectError(await snap(['serve', ws.path('absent'), '--port', '0']), 'E_NO_STORE')
  const { a } = await twoHosts(ws)
  expectError(await snap(['serve', a, '--port', '70000']), 'E_USAGE')
  expectError(await snap(['serve', a, '--port', '0', '--token-file', ws.path('no-such-token')]), 'E_NOT_FOUND')
})

Cli('two clients pulling from one server at once both succeed and list the same', async ({ ws }) => {
  const source = ws.path('source')
  await seedStore(source, 40, 128 * KIB)
  const server = await serve(source)
  const dests = [ws.path('one'), ws.path('two')]
  for (const dest of dests) await init(dest)
  const runs = await Promise.all(dests.map(async (dest) => await snap(['merge', dest, server.url], { env: NO_TOKEN })))
  for (const run of runs) expectOk(run, merged(41, 40, 40 * 128 * KIB, server.url))
  await server.stop()
  servers = []
  const expected = (await inspect(source)).listing
  for (const dest of dests) assert.equal((await inspect(dest)).listing, expected)
})

Cli.run()
