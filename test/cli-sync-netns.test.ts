import { execFileSync, spawnSync } from 'node:child_process'
import * as assert from 'uvu/assert'
import { closeStore, initStore, openStore, verifyStore } from '../src/index.ts'
import { Workspace, guardedSuite, listing } from './_helpers/merge.ts'
import { expectOk, snap } from './_helpers/cli.ts'
import { CLI } from './_helpers/store.ts'
import { seedStore, startServe, tokenFile } from './_helpers/sync.ts'
import type { Served } from './_helpers/sync.ts'

// Two real hosts on one machine: network namespaces A and B joined by a veth pair, with addresses in
// 10.222.0.0/24 that exist only inside them. The server runs in A, the client in B.
const PREFIX = 'snst-'
const A = `${PREFIX}a-${process.pid}`
const B = `${PREFIX}b-${process.pid}`
const VETH_A = `snsta${process.pid % 100000}`
const VETH_B = `snstb${process.pid % 100000}`
const ADDRESS_A = '10.222.0.1'
const ADDRESS_B = '10.222.0.2'
const TOKEN = 'netns-token'

/** Why namespaces cannot be made here, or undefined when they can (root, and `ip netns add` works). */
function whyNoNamespaces (): string | undefined {
  if (process.platform !== 'linux') return 'not Linux'
  if (process.getuid?.() !== 0) return 'not running as root'
  const probe = `${PREFIX}probe-${process.pid}`
  const added = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' })
  if (added.error !== undefined) return `"ip" is not available (${added.error.message})`
  if (added.status !== 0) return `"ip netns add" fails: ${added.stderr.trim()}`
  spawnSync('ip', ['netns', 'del', probe])
  return undefined
}

function ip (...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** Removes namespaces this test left behind in an earlier run that was killed (their process is gone). */
function removeStale (): void {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
  for (const name of listed.split('\n').map((line) => line.split(' ')[0] ?? '')) {
    const pid = /^snst-[ab]-(\d+)$/.exec(name)?.[1]
    if (pid === undefined || pid === String(process.pid)) continue
    if (spawnSync('kill', ['-0', pid]).status !== 0) spawnSync('ip', ['netns', 'del', name])
  }
}

function createHosts (): void {
  removeStale()
  ip('netns', 'add', A)
  ip('netns', 'add', B)
  ip('link', 'add', VETH_A, 'type', 'veth', 'peer', 'name', VETH_B)
  ip('link', 'set', VETH_A, 'netns', A)
  ip('link', 'set', VETH_B, 'netns', B)
  for (const [ns, dev, address] of [[A, VETH_A, ADDRESS_A], [B, VETH_B, ADDRESS_B]] as const) {
    ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', dev)
    ip('-n', ns, 'link', 'set', dev, 'up')
    ip('-n', ns, 'link', 'set', 'lo', 'up')
  }
}

/** Deletes both namespaces (which deletes the veth pair); safe to call when they were never made. */
function removeHosts (): void {
  for (const ns of [A, B]) spawnSync('ip', ['netns', 'del', ns])
}

interface HostsContext {
  ws: Workspace
  servers: Served[]
}

const why = whyNoNamespaces()
const Hosts = guardedSuite<HostsContext>(why === undefined
  ? 'sync between two hosts (network namespaces joined by a veth pair)'
  : `sync between two hosts (network namespaces): SKIPPED, ${why}`, {} as HostsContext)

if (why !== undefined) {
  Hosts.skip('pull and push between two hosts', () => undefined)
} else {
  Hosts.before(async (ctx) => {
    ctx.ws = await Workspace.create()
    ctx.servers = []
    try {
      createHosts()
    } catch (err) {
      removeHosts()
      throw err
    }
  })
  Hosts.after(async (ctx) => {
    for (const server of ctx.servers) await server.kill()
    removeHosts()
    await ctx.ws.dispose()
  })

  Hosts('a client on host B pulls from and pushes to a server on host A, and both converge', async (ctx) => {
    const { ws } = ctx
    const hostA = ws.path('host-a')
    const hostB = ws.path('host-b')
    await seedStore(hostA, 4, 300 * 1024, 1)
    await seedStore(hostB, 2, 200 * 1024, 50)
    const token = await tokenFile(ws.dir, 'token', TOKEN)
    const server = await startServe(hostA, ['--bind', ADDRESS_A, '--token-file', token, '--allow-push'], ['ip', 'netns', 'exec', A])
    ctx.servers.push(server)
    assert.match(server.url, new RegExp(`^http://${ADDRESS_A.replace(/\./g, '\\.')}:\\d+$`))
    const inB = ['netns', 'exec', B, process.execPath, CLI]
    const pull = spawnSync('ip', [...inB, 'merge', hostB, server.url, '--token-file', token], { encoding: 'utf8' })
    assert.is(pull.stderr, '')
    assert.is(pull.stdout, `merged 5 events, 4 blobs (${4 * 300 * 1024} bytes) from ${server.url}\n`)
    const push = spawnSync('ip', [...inB, 'push', hostB, server.url, '--token-file', token], { encoding: 'utf8' })
    assert.is(push.stderr, '')
    assert.is(push.stdout, `pushed 3 events, 2 blobs (${2 * 200 * 1024} bytes) to ${server.url}\n`)
    const again = spawnSync('ip', [...inB, 'merge', hostB, server.url, '--token-file', token], { encoding: 'utf8' })
    assert.is(again.stdout, `merged 0 events, 0 blobs (0 bytes) from ${server.url}\n`)
    const stopped = await server.stop()
    ctx.servers = []
    assert.is(stopped.stderr, '')
    for (const what of ['snapshots', 'tags']) {
      const onA = await snap(['ls', what, hostA])
      expectOk(onA)
      expectOk(await snap(['ls', what, hostB]), onA.stdout)
    }
    for (const path of [hostA, hostB]) {
      const store = await openStore(path)
      try {
        assert.equal((await verifyStore(store)).problems, [])
        assert.is((await listing(store)).snapshots.length, 6)
      } finally {
        await closeStore(store)
      }
    }
  })

  Hosts('a client on host B without the token gets E_AUTH from host A', async (ctx) => {
    const { ws } = ctx
    const hostA = ws.path('auth-a')
    await seedStore(hostA, 1, 1000)
    const dest = ws.path('auth-b')
    await closeStore(await initStore(dest))
    const token = await tokenFile(ws.dir, 'auth-token', TOKEN)
    const server = await startServe(hostA, ['--bind', ADDRESS_A, '--token-file', token], ['ip', 'netns', 'exec', A])
    ctx.servers.push(server)
    const run = spawnSync('ip', ['netns', 'exec', B, process.execPath, CLI, 'merge', dest, server.url], { encoding: 'utf8', env: { ...process.env, SNAPSTORE_TOKEN: '' } })
    assert.is(run.stdout, '')
    assert.match(run.stderr, /^snapstore: E_AUTH: .*requires a token/)
    assert.is(run.status, 1)
  })
}

Hosts.run()
