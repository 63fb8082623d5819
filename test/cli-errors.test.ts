import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { encode } from '../src/codec.ts'
import { FORMAT_VERSION } from '../src/index.ts'
import {
  LIBRARY, cliContext, dumpStore, expectError, expectOk, inParallel, lines, put, seed, snap, sublevel, withDb, withLibrary
} from './_helpers/cli.ts'
import { CLI } from './_helpers/store.ts'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import type { CliContext } from './_helpers/cli.ts'

interface Ctx extends CliContext {
  holder?: ChildProcessWithoutNullStreams
}

const Errors = suite<Ctx>('cli errors', {} as Ctx)
Errors.before.each(async (ctx) => {
  Object.assign(ctx, await cliContext())
  delete ctx.holder
})
Errors.after.each(async (ctx) => {
  if (ctx.holder !== undefined && ctx.holder.exitCode === null && ctx.holder.signalCode === null) {
    const exited = new Promise((resolve) => ctx.holder?.once('exit', resolve))
    ctx.holder.kill('SIGKILL')
    await exited
  }
  await ctx.dispose()
})

// ---------------------------------------------------------------- not a store

const NOT_STORES: Array<[string, (dir: string) => Promise<string>]> = [
  ['a missing path', async (dir) => join(dir, 'missing')],
  ['a file', async (dir) => await put(dir, 'file.txt', 'not a store')],
  ['an empty directory', async (dir) => { await mkdir(join(dir, 'empty')); return join(dir, 'empty') }]
]
for (const [what, make] of NOT_STORES) {
  Errors(`a command on ${what} fails with E_NO_STORE`, async ({ dir }) => {
    const path = await make(dir)
    const message = expectError(await snap(['ls', 'snapshots', path]), 'E_NO_STORE')
    assert.ok(message.includes(path), message)
  })
}

Errors('no command turns an empty directory into a store, and each fails with E_NO_STORE', async ({ dir }) => {
  const empty = join(dir, 'empty')
  await mkdir(empty)
  const file = await put(dir, 'data.bin', 'bytes')
  const commands = [
    ['add', 'snapshot', empty, file],
    ['get', 'snapshot', empty, 'abcdef0123'],
    ['show', empty],
    ['log', empty],
    ['tag', empty, 'best', 'abcdef0123'],
    ['verify', empty],
    ['reindex', empty]
  ]
  const runs = await inParallel(commands, 2, async (args) => await snap(args))
  runs.forEach((run, i) => expectError(run, 'E_NO_STORE', commands[i]![0]))
  assert.equal(await readdir(empty), [], 'a command left something in the directory')
})

// ---------------------------------------------------------------- newer format

Errors('a store of a newer format fails with E_VERSION and is left unchanged', async ({ store }) => {
  await withDb(store, async (db) => { await sublevel(db, 'meta').put('format', encode(FORMAT_VERSION + 1)) })
  const before = await dumpStore(store)
  const message = expectError(await snap(['add', 'blob', store, '-'], { input: 'x' }), 'E_VERSION')
  assert.match(message, new RegExp(`\\b${FORMAT_VERSION + 1}\\b`), 'the message names the store\'s format')
  assert.equal(await dumpStore(store), before)
})

// ---------------------------------------------------------------- locked

async function holdStore (ctx: Ctx): Promise<ChildProcessWithoutNullStreams> {
  const script = await put(ctx.dir, 'holder.mjs', [
    `import { closeStore, openStore } from ${JSON.stringify(pathToFileURL(LIBRARY).href)}`,
    'const store = await openStore(process.env.HOLD_STORE)',
    "process.stdout.write('ready\\n')",
    "process.stdin.on('data', () => undefined)",
    "process.stdin.on('end', async () => { await closeStore(store); process.exit(0) })"
  ].join('\n'))
  const child = spawn(process.execPath, [script], { env: { ...process.env, HOLD_STORE: ctx.store }, stdio: ['pipe', 'pipe', 'pipe'] })
  ctx.holder = child
  await new Promise<void>((resolve, reject) => {
    let out = ''
    let err = ''
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); if (out.includes('ready\n')) resolve() })
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
    child.on('exit', (code) => reject(new Error(`the holder exited with ${code}: ${err}`)))
  })
  return child
}

Errors('a store another process holds open fails with E_LOCKED naming the store, the holder and what to do', async (ctx) => {
  const holder = await holdStore(ctx)
  const message = expectError(await snap(['ls', 'snapshots', ctx.store, '--wait', '0.5']), 'E_LOCKED')
  assert.ok(message.includes(ctx.store), `the store path is missing: ${message}`)
  assert.ok(message.includes(`process ${holder.pid}`), `the holder is not named: ${message}`)
  assert.match(message, /--wait/)

  const exited = new Promise((resolve) => holder.once('exit', resolve))
  holder.stdin.end()
  assert.is(await exited, 0)
  expectOk(await snap(['ls', 'snapshots', ctx.store, '--wait', '0.5']), '')
})

Errors('a failed add on a locked store leaves it unchanged', async (ctx) => {
  const before = await dumpStore(ctx.store)
  const holder = await holdStore(ctx)
  const file = await put(ctx.dir, 'data.bin', 'bytes')
  expectError(await snap(['add', 'snapshot', ctx.store, file, '--wait', '0']), 'E_LOCKED')
  const exited = new Promise((resolve) => holder.once('exit', resolve))
  holder.stdin.end()
  await exited
  assert.equal(await dumpStore(ctx.store), before)
})

Errors('an add that outgrows the file size limit, as on a full disk, fails with E_BAD_INPUT in one line; the store verifies and the add then succeeds', async ({ dir, store }) => {
  const file = join(dir, 'big.bin')
  await writeFile(file, randomBytes(8 * 1024 * 1024))
  // ulimit -f: the pack write is cut short, as a disk filling up cuts it, and the next write says why.
  const limited = spawnSync('sh', ['-c', 'ulimit -f 2048 && exec "$@"', 'sh', process.execPath, CLI, 'add', 'snapshot', store, file], { encoding: 'utf8' })
  const message = expectError({ status: limited.status, signal: limited.signal, stdout: limited.stdout, stderr: limited.stderr, out: Buffer.from(limited.stdout) }, 'E_BAD_INPUT')
  assert.match(message, 'Cannot write to the packs')
  assert.match(message, 'the file is too large')
  expectOk(await snap(['verify', store]))
  expectOk(await snap(['add', 'snapshot', store, file]))
})

Errors('--wait that is not a number of seconds fails with E_USAGE', async ({ store }) => {
  expectError(await snap(['ls', 'snapshots', store, '--wait', 'soon']), 'E_USAGE')
})

// ---------------------------------------------------------------- usage

const USAGE_ERRORS: Array<[string, string[]]> = [
  ['an unknown command', ['frobnicate']],
  ['an unknown option', ['ls', 'snapshots', '.', '--frobnicate']],
  ['a missing argument', ['get', 'snapshot']],
  ['an extra argument', ['verify', 'a', 'b']]
]
for (const [what, args] of USAGE_ERRORS) {
  Errors(`${what} fails with E_USAGE, exit 2`, async ({ store }) => {
    expectError(await snap(args.map((arg) => (arg === '.' ? store : arg))), 'E_USAGE')
  })
}

Errors('--help exits 0 and prints the usage with every command', async () => {
  const run = await snap(['--help'])
  expectOk(run)
  assert.match(run.stdout, /^Usage: snapstore /)
  for (const command of ['init', 'add', 'ls', 'get', 'show', 'log', 'tag', 'verify', 'reindex']) {
    assert.match(run.stdout, new RegExp(`^  ${command} `, 'm'))
  }
})

Errors('each command\'s --help exits 0 and prints its usage', async () => {
  const help = await snap(['--help'])
  const commands = lines(help.stdout.split(/^Commands:\n/m)[1] ?? '')
    .map((line) => /^ {2}([a-z-]+)\b/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help')
  assert.ok(commands.length >= 9, `too few commands in --help: ${commands.join(', ')}`)
  const runs = await inParallel(commands, 2, async (command) => await snap([command, '--help']))
  runs.forEach((run, i) => {
    expectOk(run, undefined, `${commands[i]!} --help`)
    assert.match(run.stdout, new RegExp(`^Usage: snapstore ${commands[i]!} `), commands[i])
  })
})

Errors('--version exits 0 and prints the version', async () => {
  const run = await snap(['--version'])
  expectOk(run)
  assert.match(run.stdout, /^\d+\.\d+\.\d+\S*\n$/)
})

// The contract makes a command line that cannot be understood a usage error (exit 2); src/cli/main.ts
// maps every commander.help exit, including commander's own exit code 1 for "no command", to 0.
Errors('snapstore with no command is a usage error: exit 2, nothing on stdout, the help then the contract\'s line', async () => {
  const run = await snap([])
  assert.is(run.stdout, '')
  assert.match(run.stderr, /Commands:/)
  assert.match(run.stderr, /\nsnapstore: E_USAGE: no command given \(see "snapstore --help"\)\n$/)
  assert.is(run.status, 2)
})

Errors('init of an empty path, or of a path below a file, fails with E_BAD_INPUT in one line', async ({ dir }) => {
  expectError(await snap(['init', '']), 'E_BAD_INPUT')
  const file = await put(dir, 'a.bin', 'bytes')
  const message = expectError(await snap(['init', join(file, 'store')]), 'E_BAD_INPUT')
  assert.match(message, /a part of the path is not a directory$/)
})

Errors('a store whose database lost its manifest fails with E_CORRUPT, not as a missing store', async ({ store }) => {
  const db = join(store, 'db')
  for (const name of await readdir(db)) if (name.startsWith('MANIFEST-')) await rm(join(db, name))
  const message = expectError(await snap(['ls', 'snapshots', store]), 'E_CORRUPT')
  assert.match(message, /its database is damaged/)
})

// ---------------------------------------------------------------- damaged log

Errors('malformed CBOR in the log makes log fail with E_CORRUPT and verify report it', async ({ store }) => {
  await seed(store, [{ kind: 'snapshot', content: 'one' }, { kind: 'snapshot', content: 'two' }])
  const origin = await withLibrary(store, async (s) => s.origin)
  await withDb(store, async (db) => {
    const events = sublevel(db, 'event')
    const [first] = await events.keys({ limit: 1 }).all()
    assert.ok(first?.startsWith(`${origin}:`))
    await events.put(first!, Uint8Array.from([0xff, 0xfe, 0x00, 0x1c, 0x42]))
  })
  const log = await snap(['log', store])
  const message = expectError(log, 'E_CORRUPT')
  assert.ok(message.includes(`${origin}:1`), message)

  const verify = await snap(['verify', store])
  assert.is(verify.status, 1)
  assert.is(verify.stderr, '')
  const problems = lines(verify.stdout)
  assert.ok(problems.some((p) => p.startsWith(`event ${origin}:1:`)), verify.stdout)
  assert.not.match(verify.stdout, /^ok:/m)
})

Errors.run()
