import { readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { createServer } from 'node:https'
import * as assert from 'uvu/assert'
import { workspaceSuite } from './_helpers/merge.ts'
import { expectError, expectOk, snap } from './_helpers/cli.ts'
import { CLI, fixturePath } from './_helpers/store.ts'
import { NODE_FLAGS } from '../src/cli/node-flags.ts'
import { inspect, listen, merged, seedStore, startServe } from './_helpers/sync.ts'
import type { TestServer } from './_helpers/sync.ts'

const KIB = 1024

/** A self-signed certificate for 127.0.0.1 and its key (fixtures/tls): the CA a site would name in NODE_EXTRA_CA_CERTS. */
const TLS = { key: fixturePath('tls/key.pem'), cert: fixturePath('tls/cert.pem') }

/** An https front for a `snapstore serve` (as a site's reverse proxy would be). */
async function httpsFront (upstream: string, tls: { key: string, cert: string }): Promise<TestServer> {
  const server = createServer({ key: await readFile(tls.key), cert: await readFile(tls.cert) }, (req, res) => {
    const out = request(new URL(req.url ?? '/', upstream), { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    out.on('error', () => res.socket?.destroy())
    req.pipe(out)
  })
  return await listen(server, 'https')
}

const Https = workspaceSuite('snapstore over https, and NODE_EXTRA_CA_CERTS through the launcher')

Https('the installed command pulls over https from a site whose CA NODE_EXTRA_CA_CERTS names', async ({ ws }) => {
  const source = ws.path('source')
  const dest = ws.path('dest')
  await seedStore(source, 3, 100 * KIB)
  const server = await startServe(source)
  const front = await httpsFront(server.url, TLS)
  try {
    expectOk(await snap(['init', dest]))
    const refused = await snap(['merge', dest, front.url], { asInstalled: true, env: { NODE_EXTRA_CA_CERTS: undefined } })
    assert.match(expectError(refused, 'E_NET', 'without the CA'), /certificate/i)
    assert.is((await inspect(dest)).events, 0, 'nothing written when the peer is not trusted')
    const pulled = await snap(['merge', dest, front.url], { asInstalled: true, env: { NODE_EXTRA_CA_CERTS: TLS.cert } })
    expectOk(pulled, merged(4, 3, 3 * 100 * KIB, front.url), 'with the CA, through the launcher')
    const again = await snap(['merge', dest, front.url], { env: { NODE_EXTRA_CA_CERTS: TLS.cert } })
    expectOk(again, merged(0, 0, 0, front.url), 'with the CA, started by node itself')
    assert.equal((await inspect(dest)).listing, (await inspect(source)).listing)
  } finally {
    await front.close()
    await server.kill()
  }
})

Https('commands that snapstore runs see NODE_EXTRA_CA_CERTS as the user set it', async ({ ws }) => {
  const store = ws.path('store')
  const seen = ws.path('seen.txt')
  expectOk(await snap(['init', store]))
  const bundle = ws.path('site ca.pem')
  await writeFile(bundle, '')
  const script = `const { writeFileSync } = require('fs'); const env = process.env
writeFileSync(${JSON.stringify(seen)}, JSON.stringify([env.NODE_EXTRA_CA_CERTS, env.SNAPSTORE_DEFERRED_CA_CERTS]))
writeFileSync(env.SNAPSTORE_OUTPUT, 'end state')`
  const run = await snap(['run', store, '--', process.execPath, '-e', script], { asInstalled: true, env: { NODE_EXTRA_CA_CERTS: bundle } })
  assert.is(run.status, 0, run.stderr)
  assert.equal(JSON.parse(await readFile(seen, 'utf8')), [bundle, null])
})

Https('the installed command starts Node with NODE_FLAGS, the options of the jobs snapstore writes itself', async ({ ws }) => {
  const store = ws.path('store')
  const seen = ws.path('wrapper.json')
  expectOk(await snap(['init', store]))
  // The command's parent is the snapstore process that runs it: its command line is in /proc.
  const script = `const { readFileSync, writeFileSync } = require('fs')
writeFileSync(${JSON.stringify(seen)}, JSON.stringify(readFileSync('/proc/' + process.ppid + '/cmdline', 'latin1').split('\\0')))
writeFileSync(process.env.SNAPSTORE_OUTPUT, 'end state')`
  const run = await snap(['run', store, '--', process.execPath, '-e', script], { asInstalled: true })
  assert.is(run.status, 0, run.stderr)
  const argv = JSON.parse(await readFile(seen, 'utf8')) as string[]
  assert.equal(argv.slice(1, argv.indexOf(CLI)), [...NODE_FLAGS], argv.join(' '))
})

Https.run()
