import { createServer } from 'node:http'
import { connect } from 'node:net'
import { cp, writeFile } from 'node:fs/promises'
import * as assert from 'uvu/assert'
import { addBlob, listBlobIds, verifyStore } from '../src/index.ts'
import { mergeStores } from '../src/merge/merge-stores.ts'
import { serveStore } from '../src/sync/server.ts'
import { pushStore } from '../src/sync/push.ts'
import { redactUrl } from '../src/sync/peer.ts'
import { assertSameState, collect, heldChunkBytes, listing, storeState, workspaceSuite } from './_helpers/merge.ts'
import { holdRequest, listen, rawRequest, seedStore, splitFrames, tamperingProxy, watchingProxy } from './_helpers/sync.ts'
import { bytes, expectCode, holdStoreOpen, runCli, seededBytes } from './_helpers/store.ts'
import type { ServeOptions, SyncServer } from '../src/sync/server.ts'
import type { Tamper } from './_helpers/sync.ts'
import type { Workspace } from './_helpers/merge.ts'

const TOKEN = 'correct-horse-battery-staple'
const BLOB = 200_000

/** A served store of five (or `count`) snapshots of 200 KB (and a tag), an empty destination, and a server on a free port. */
async function served (ws: Workspace, options: ServeOptions = {}, count = 5): Promise<{ server: SyncServer, source: string, dest: string }> {
  const source = ws.path('source')
  await seedStore(source, count, BLOB)
  const dest = ws.path('dest')
  await ws.init('dest')
  await ws.closeAll()
  const server = await serveStore(source, { port: 0, ...options })
  return { server, source, dest }
}

// ---------------------------------------------------------------- pull and push through the library

const Sync = workspaceSuite('sync through serveStore')

Sync('a pull copies every snapshot and tag, verifies, and a second pull moves nothing', async ({ ws }) => {
  const { server, source, dest } = await served(ws, { token: TOKEN })
  try {
    const first = await mergeStores(await ws.open(dest), server.url, { token: TOKEN })
    assert.equal([first.events, first.blobs, first.bytes], [6, 5, 5 * BLOB])
    assert.is(first.source, server.url)
    const second = await mergeStores(await ws.open(dest), server.url, { token: TOKEN })
    assert.equal([second.events, second.blobs, second.bytes], [0, 0, 0])
    assert.equal((await verifyStore(await ws.open(dest))).problems, [])
    const pulled = await listing(await ws.open(dest))
    await ws.close(dest)
    await server.close()
    assert.equal(pulled, await listing(await ws.open(source)))
  } finally {
    await server.close()
  }
})

Sync('a push sends only what the server lacks, and the server verifies it before writing', async ({ ws }) => {
  const { server, source, dest } = await served(ws, { allowPush: true })
  try {
    await mergeStores(await ws.open(dest), server.url)
    await addBlob(await ws.open(dest), 'config', bytes('steps = 10\n'))
    await ws.close(dest)
    const pushed = await pushStore(dest, server.url)
    assert.equal([pushed.events, pushed.blobs, pushed.bytes], [1, 1, 11], 'only the new config travels')
    assert.equal(await pushStore(dest, server.url).then((r) => [r.events, r.blobs, r.bytes]), [0, 0, 0])
    await server.close()
    assert.equal(await listing(await ws.open(source)), await listing(await ws.open(dest)))
    assert.equal((await verifyStore(await ws.open(source))).problems, [])
  } finally {
    await server.close()
  }
})

Sync('a push of a fork is E_FORK, found by the client when it is ahead and by the server when it is behind; nothing is written', async ({ ws }) => {
  const { server, source } = await served(ws, { allowPush: true })
  await server.close()
  // Two copies of the served store's directory share its origin; each then writes its own events.
  const ahead = ws.path('ahead')
  const behind = ws.path('behind')
  await cp(source, ahead, { recursive: true })
  await cp(source, behind, { recursive: true })
  for (const [path, count] of [[source, 2], [ahead, 3], [behind, 1]] as const) {
    for (let i = 0; i < count; i++) await addBlob(await ws.open(path), 'snapshot', bytes(`${path} ${i}`))
    await ws.close(path)
  }
  const before = await storeState(ws, source)
  const again = await serveStore(source, { port: 0, allowPush: true })
  try {
    const byClient = await expectCode(pushStore(ahead, again.url), 'E_FORK')
    assert.match(byClient.message, 'forks at seq 8')
    assert.not.match(byClient.message, 'the server says')
    const byServer = await expectCode(pushStore(behind, again.url), 'E_FORK')
    assert.match(byServer.message, 'the server says')
    assert.match(byServer.message, 'forks at seq 7')
  } finally {
    await again.close()
  }
  assertSameState(await storeState(ws, source), before, 'the served store')
})

Sync('the store is closed between requests: another process adds to it while it is served', async ({ ws }) => {
  const { server, source } = await served(ws)
  try {
    await mergeStores(await ws.open('dest'), server.url)
    await ws.close('dest')
    const file = ws.path('new.bin')
    await writeFile(file, 'made while served\n')
    const added = await runCli(['add', 'snapshot', source, file, '--wait', '5'])
    assert.is(added.stderr, '')
    assert.is(added.status, 0)
    const again = await mergeStores(await ws.open('dest'), server.url)
    assert.equal([again.events, again.blobs], [1, 1])
  } finally {
    await server.close()
  }
})

Sync('an events request beyond maxEvents is answered in part, and the client asks for the rest', async ({ ws }) => {
  const { server, dest } = await served(ws, { maxEvents: 2 })
  try {
    const heads = JSON.parse((await rawRequest(`${server.url}/v1/heads`)).body.toString()) as { heads: Array<{ origin: string, seq: number }> }
    const [head] = heads.heads
    const answer = await rawRequest(`${server.url}/v1/events/${head!.origin}?from=1&to=${head!.seq}`)
    assert.is(answer.status, 200)
    assert.is(splitFrames(answer.body).length, 2)
    const result = await mergeStores(await ws.open(dest), server.url)
    assert.is(result.events, 6)
  } finally {
    await server.close()
  }
})

Sync('a server that answers one event per request still delivers every event, never fewer', async ({ ws }) => {
  const { server, dest } = await served(ws)
  const proxy = await tamperingProxy(server.url, (path, body) => path.startsWith('/v1/events/') ? splitFrames(body)[0]! : body)
  try {
    const result = await mergeStores(await ws.open(dest), proxy.url)
    assert.equal([result.events, result.blobs], [6, 5])
    assert.equal((await verifyStore(await ws.open(dest))).problems, [])
  } finally {
    await proxy.close()
    await server.close()
  }
})

Sync.run()

// ---------------------------------------------------------------- the server's bounds

const Bounds = workspaceSuite('serveStore bounds')

Bounds('without the token every path answers 401 with an empty body', async ({ ws }) => {
  const { server } = await served(ws, { token: TOKEN })
  try {
    for (const path of ['/v1/heads', '/v1/chunk/' + 'ab'.repeat(32), '/v1/nothing', '/']) {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: TOKEN }]) {
        const answer = await rawRequest(server.url + path, { headers })
        assert.is(answer.status, 401, `${path} with ${JSON.stringify(headers)}`)
        assert.is(answer.body.length, 0)
      }
    }
    assert.is((await rawRequest(`${server.url}/v1/heads`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200)
    // The scheme's name is case-insensitive.
    assert.is((await rawRequest(`${server.url}/v1/heads`, { headers: { authorization: `bearer ${TOKEN}` } })).status, 200)
  } finally {
    await server.close()
  }
})

Bounds('malformed path parameters answer 400, unknown paths 404, wrong methods 405', async ({ ws }) => {
  const { server } = await served(ws)
  try {
    const origin = 'ab'.repeat(16)
    const cases: Array<[string, number, string?]> = [
      ['/v1/chunk/abc', 400],
      ['/v1/chunk/' + 'AB'.repeat(32), 400],
      ['/v1/blob/' + 'zz'.repeat(32), 400],
      [`/v1/events/${origin.slice(1)}?from=1&to=2`, 400],
      [`/v1/events/${origin}?from=0&to=2`, 400],
      [`/v1/events/${origin}?from=3&to=2`, 400],
      [`/v1/events/${origin}?from=1`, 400],
      [`/v1/event/${origin}/01`, 400],
      ['/v1/chunk/' + 'ab'.repeat(32), 404],
      [`/v1/event/${origin}/1`, 404],
      ['/v1/nothing', 404],
      ['/v2/heads', 404],
      ['/v1/heads', 405, 'POST'],
      ['/v1/push', 405, 'GET']
    ]
    for (const [path, status, method] of cases) {
      const answer = await rawRequest(server.url + path, method === undefined ? {} : { method })
      assert.is(answer.status, status, `${method ?? 'GET'} ${path}`)
    }
  } finally {
    await server.close()
  }
})

Bounds('a push to a read-only server is refused with 403, and the client says E_AUTH before sending anything', async ({ ws }) => {
  const { server, dest } = await served(ws)
  try {
    await addBlob(await ws.open(dest), 'snapshot', bytes('not wanted there'))
    await ws.close(dest)
    assert.is((await rawRequest(`${server.url}/v1/push`, { method: 'POST', body: bytes('x') })).status, 403)
    const err = await expectCode(pushStore(dest, server.url), 'E_AUTH')
    assert.match(err.message, '--allow-push')
  } finally {
    await server.close()
  }
})

Bounds('a push over the size limit is refused with E_BAD_INPUT and nothing is written', async ({ ws }) => {
  const { server, source, dest } = await served(ws, { allowPush: true, maxPushBytes: 1000 })
  try {
    await addBlob(await ws.open(dest), 'snapshot', new Uint8Array(5000).fill(7))
    await ws.close(dest)
    await server.close()
    const before = await storeState(ws, source)
    const again = await serveStore(source, { port: 0, allowPush: true, maxPushBytes: 1000 })
    try {
      const err = await expectCode(pushStore(dest, again.url), 'E_BAD_INPUT')
      assert.match(err.message, 'at most 1000')
      const raw = await rawRequest(`${again.url}/v1/push`, { method: 'POST', body: new Uint8Array(2000) })
      assert.is(raw.status, 413)
    } finally {
      await again.close()
    }
    assertSameState(await storeState(ws, source), before, 'the served store')
  } finally {
    await server.close()
  }
})

Bounds('requests beyond maxConcurrent answer 503 until one finishes', async ({ ws }) => {
  const { server } = await served(ws, { maxConcurrent: 2 })
  try {
    const lacking = `${server.url}/v1/lacking/chunks`
    const held = [await holdRequest(lacking), await holdRequest(lacking)]
    let status = 0
    for (let attempt = 0; attempt < 100 && status !== 503; attempt++) {
      status = (await rawRequest(`${server.url}/v1/heads`)).status
      if (status !== 503) await new Promise((resolve) => setTimeout(resolve, 10))
    }
    assert.is(status, 503)
    for (const request of held) assert.is(await request.release(), 200)
    assert.is((await rawRequest(`${server.url}/v1/heads`)).status, 200)
  } finally {
    await server.close()
  }
})

Bounds('a served store held by another process answers 423 E_LOCKED; a client asks again only as long as its own wait', async ({ ws }) => {
  const { server, source, dest } = await served(ws, { wait: 0, allowPush: true })
  const asked: string[] = []
  const proxy = await watchingProxy(server.url, async (path) => { asked.push(path) })
  let holder: Awaited<ReturnType<typeof holdStoreOpen>> | undefined
  try {
    // The server lets go of the store a moment after it starts.
    const held = holder = await holdStoreOpen(source, 5)
    const raw = await rawRequest(`${server.url}/v1/heads`)
    assert.is(raw.status, 423)
    assert.is(JSON.parse(raw.body.toString()).code, 'E_LOCKED')
    const err = await expectCode(mergeStores(await ws.open(dest), proxy.url, { wait: 0 }), 'E_LOCKED')
    assert.match(err.message, `process ${held.pid}`)
    assert.equal(asked, ['/v1/heads'], 'a client that does not wait asks once')
    await ws.close(dest)
    await addBlob(await ws.open(dest), 'snapshot', bytes('to push'))
    await ws.close(dest)
    await expectCode(pushStore(dest, server.url, { wait: 0 }), 'E_LOCKED')
    // Released while the client waits: the pull goes through.
    setTimeout(() => { void held.release() }, 300)
    assert.is((await mergeStores(await ws.open(dest), proxy.url, { wait: 30 })).events, 6)
  } finally {
    await holder?.release()
    await proxy.close()
    await server.close()
  }
})

Bounds('a pull into the served store itself is E_LOCKED, saying that this process holds it', async ({ ws }) => {
  const { server, source } = await served(ws, { wait: 0 })
  try {
    const err = await expectCode(mergeStores(await ws.open(source), server.url, { wait: 0 }), 'E_LOCKED')
    assert.match(err.message, 'this process holds it')
  } finally {
    await ws.closeAll()
    await server.close()
  }
})

Bounds('a server answers past many idle connections: 40 open sockets do not lock a pull out', async ({ ws }) => {
  const { server, dest } = await served(ws)
  const { port } = new URL(server.url)
  const idle = Array.from({ length: 40 }, () => connect(Number(port), '127.0.0.1'))
  try {
    await Promise.all(idle.map(async (socket) => await new Promise((resolve) => socket.once('connect', resolve))))
    assert.is((await mergeStores(await ws.open(dest), server.url)).events, 6)
  } finally {
    for (const socket of idle) socket.destroy()
    await server.close()
  }
})

Bounds('an error answer longer than 64 KiB (a proxy\'s error page) is E_NET naming its status, not E_CORRUPT', async ({ ws }) => {
  await ws.init('dest')
  const page = await listen(createServer((_req, res) => {
    res.writeHead(502, { 'content-type': 'text/html' })
    res.end('<p>bad gateway</p>'.repeat(6000))
  }))
  try {
    const err = await expectCode(mergeStores(await ws.open('dest'), page.url), 'E_NET')
    assert.match(err.message, 'answered 502')
  } finally {
    await page.close()
  }
})

Bounds('a push from a path that is no store is E_NO_STORE, whatever the server would say', async ({ ws }) => {
  const { server } = await served(ws)
  try {
    // The server is read-only: asked first, it would have made this E_AUTH.
    await expectCode(pushStore(ws.path('absent'), server.url), 'E_NO_STORE')
  } finally {
    await server.close()
  }
})

Bounds('a URL is shown without its user and password, and otherwise as typed', () => {
  assert.is(redactUrl('http://user:secret@127.0.0.1:7420'), 'http://127.0.0.1:7420')
  assert.is(redactUrl('https://token@host.example/base?x=1'), 'https://host.example/base?x=1')
  assert.is(redactUrl('http://127.0.0.1:7420/'), 'http://127.0.0.1:7420/')
  assert.is(redactUrl('http://u:p@host.example?x=a@b'), 'http://host.example?x=a@b')
  for (const odd of ['http:\\\\u:secret@host.example/x', 'http:/u:secret@host.example/x', 'http:u:secret@host.example/x', ' http://u:secret@host.example/']) {
    assert.not.match(redactUrl(odd), 'secret', odd)
  }
})

Bounds('a server that cannot listen fails with E_BAD_INPUT naming the address, and a missing store with E_NO_STORE', async ({ ws }) => {
  const { server, source } = await served(ws)
  try {
    await server.close()
    const first = await serveStore(source, { port: 0 })
    try {
      const err = await expectCode(serveStore(source, { port: first.port }), 'E_BAD_INPUT')
      assert.match(err.message, `127.0.0.1:${first.port}`)
    } finally {
      await first.close()
    }
    await expectCode(serveStore(ws.path('absent'), { port: 0 }), 'E_NO_STORE')
  } finally {
    await server.close()
  }
})

Bounds.run()

// ---------------------------------------------------------------- a lying server

const flip = (body: Buffer, at: number): Buffer => {
  const out = Buffer.from(body)
  out[at] = out[at]! ^ 0x01
  return out
}

const onFirst = (prefix: string, change: (body: Buffer) => Buffer | 'reset'): Tamper => {
  let done = false
  return (path, body) => {
    if (done || !path.startsWith(prefix)) return body
    done = true
    return change(body)
  }
}

const LIES: Array<{ title: string, code: 'E_CORRUPT' | 'E_NET', tamper: () => Tamper }> = [
  { title: 'a chunk with a byte flipped', code: 'E_CORRUPT', tamper: () => onFirst('/v1/chunks', (body) => flip(body, 4 + 100)) },
  { title: 'a chunk of the wrong size', code: 'E_CORRUPT', tamper: () => onFirst('/v1/chunks', (body) => { const out = Buffer.concat([body.subarray(0, 4), body.subarray(5)]); out.writeUInt32BE(body.readUInt32BE(0) - 1); return out }) },
  { title: 'a chunks answer cut short inside a chunk', code: 'E_CORRUPT', tamper: () => onFirst('/v1/chunks', (body) => body.subarray(0, body.length - 3)) },
  { title: 'a chunks answer cut short inside a frame header', code: 'E_CORRUPT', tamper: () => onFirst('/v1/chunks', (body) => body.subarray(0, 4 + body.readUInt32BE(0) + 2)) },
  { title: 'a records answer with one record left out', code: 'E_CORRUPT', tamper: () => onFirst('/v1/blobs', (body) => Buffer.concat(splitFrames(body).slice(1))) },
  { title: 'an event with a byte flipped', code: 'E_CORRUPT', tamper: () => onFirst('/v1/events/', (body) => flip(body, 4 + 40)) },
  {
    title: 'an events stream with one event left out (a broken chain)',
    code: 'E_CORRUPT',
    tamper: () => onFirst('/v1/events/', (body) => { const frames = splitFrames(body); return Buffer.concat([frames[0]!, ...frames.slice(2)]) })
  },
  { title: 'an events stream cut short inside an event', code: 'E_CORRUPT', tamper: () => onFirst('/v1/events/', (body) => body.subarray(0, body.length - 3)) },
  {
    title: 'heads that claim one event more than it has',
    code: 'E_CORRUPT',
    tamper: () => onFirst('/v1/heads', (body) => {
      const heads = JSON.parse(body.toString()) as { heads: Array<{ seq: number }> }
      heads.heads[0]!.seq++
      return Buffer.from(JSON.stringify(heads))
    })
  },
  { title: 'a connection dropped in the middle of an events answer', code: 'E_NET', tamper: () => onFirst('/v1/events/', () => 'reset') },
  { title: 'a connection dropped in the middle of the chunks', code: 'E_NET', tamper: () => onFirst('/v1/chunks', () => 'reset') }
]

const Lies = workspaceSuite('pull from a lying server')

for (const { title, code, tamper } of LIES) {
  Lies(`a server sending ${title} gives ${code} and nothing is written`, async ({ ws }) => {
    const { server, dest } = await served(ws)
    const proxy = await tamperingProxy(server.url, tamper())
    try {
      const before = await storeState(ws, dest)
      const err = await expectCode(mergeStores(await ws.open(dest), proxy.url), code)
      assert.match(err.message, proxy.url)
      assertSameState(await storeState(ws, dest), before, 'the destination')
      // The honest server still delivers everything afterwards.
      assert.is((await mergeStores(await ws.open(dest), server.url)).events, 6)
    } finally {
      await proxy.close()
      await server.close()
    }
  })
}

Lies('a push whose answer is lost is E_NET; the server merged it whole, and pushing again moves nothing', async ({ ws }) => {
  const { server, source, dest } = await served(ws, { allowPush: true })
  const proxy = await tamperingProxy(server.url, (path, body) => path === '/v1/push' ? 'reset' : body)
  try {
    await addBlob(await ws.open(dest), 'snapshot', bytes('pushed, answer lost'))
    await ws.close(dest)
    await expectCode(pushStore(dest, proxy.url), 'E_NET')
    const again = await pushStore(dest, server.url)
    assert.equal([again.events, again.blobs, again.bytes], [0, 0, 0])
    await server.close()
    const store = await ws.open(source)
    assert.equal((await verifyStore(store)).problems, [])
    assert.is((await listing(store)).snapshots.length, 6)
  } finally {
    await proxy.close()
    await server.close()
  }
})

Lies('a connection refused gives E_NET naming the URL, and nothing is written', async ({ ws }) => {
  const { server, dest } = await served(ws)
  const url = server.url
  await server.close()
  const before = await storeState(ws, dest)
  const err = await expectCode(mergeStores(await ws.open(dest), url), 'E_NET')
  assert.match(err.message, url)
  assert.match(err.message, 'connection refused')
  assertSameState(await storeState(ws, dest), before, 'the destination')
})

Lies('a URL that is not a snapstore server gives E_NET or E_BAD_INPUT, naming it', async ({ ws }) => {
  const { server, dest } = await served(ws)
  const proxy = await tamperingProxy(server.url, (path, body) => path === '/v1/heads' ? Buffer.from('<html>hello</html>') : body)
  try {
    const err = await expectCode(mergeStores(await ws.open(dest), proxy.url), 'E_BAD_INPUT')
    assert.match(err.message, proxy.url)
    assert.match(err.message, 'not answer as a snapstore server')
  } finally {
    await proxy.close()
    await server.close()
  }
})

Lies('verified chunks stay when the peer goes away, and the next pull fetches only the rest', async ({ ws }) => {
  // 30 blobs of 200 KB are asked for in groups of about 4 MiB: the answer that carries the last blob breaks off.
  const { server, dest } = await served(ws, {}, 30)
  const last = Buffer.from(seededBytes(BLOB, 30).subarray(0, 64))
  const proxy = await tamperingProxy(server.url, (path, body) => path === '/v1/chunks' && body.includes(last) ? 'reset' : body)
  try {
    await expectCode(mergeStores(await ws.open(dest), proxy.url), 'E_NET')
    const store = await ws.open(dest)
    assert.equal(await collect(listBlobIds(store, 'snapshot')), [], 'no event was written')
    const report = await verifyStore(store)
    assert.equal(report.problems, [])
    assert.ok(report.blobs > 0 && report.blobs < 30, `the first group's blobs were kept (${report.blobs})`)
    await ws.close(dest)
    const keptBytes = await heldChunkBytes(dest)
    const reopened = await ws.open(dest)
    const rest = await mergeStores(reopened, server.url)
    assert.equal([rest.events, rest.blobs], [31, 30 - report.blobs], 'only the blobs not kept are copied')
    // Chunk granularity: the chunk of a blob whose record had not been written yet is not fetched again either.
    assert.is(rest.bytes, 30 * BLOB - keptBytes)
    assert.equal((await verifyStore(reopened)).problems, [])
  } finally {
    await proxy.close()
    await server.close()
  }
})

Lies.run()
