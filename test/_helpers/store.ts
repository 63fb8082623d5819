import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as assert from 'uvu/assert'
import { closeStore, initStore, isSnapstoreError } from '../../src/index.ts'
import type { ErrorCode, SnapstoreError, Store } from '../../src/index.ts'

/** The built CLI entry point. */
export const CLI = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../src/cli/bin.js')

/** A store in a fresh temp directory, with a way to dispose of it. */
export interface TempStore {
  dir: string
  path: string
  store: Store
  dispose: () => Promise<void>
}

/** A fresh temp directory removed by `dispose`. */
export async function tempDir (): Promise<{ dir: string, dispose: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'snapstore-test-'))
  return { dir, dispose: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** Creates a real store on disk in a new temp directory, open. */
export async function tempStore (): Promise<TempStore> {
  const { dir, dispose } = await tempDir()
  const path = join(dir, 'store')
  const store = await initStore(path)
  let closed = false
  return {
    dir,
    path,
    store,
    dispose: async () => {
      if (!closed) { closed = true; await closeStore(store).catch(() => undefined) }
      await dispose()
    }
  }
}

/** Bytes of a UTF-8 string. */
export function bytes (text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

/** Awaits a promise that must reject with a snapstore error of `code`, and returns that error. */
export async function expectCode (promise: Promise<unknown>, code: ErrorCode): Promise<SnapstoreError> {
  try {
    await promise
  } catch (err) {
    if (!isSnapstoreError(err)) throw err
    assert.is(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`)
    return err
  }
  assert.unreachable(`expected a rejection with ${code}`)
  throw new Error('unreachable')
}

/** The result of running the CLI. */
export interface CliResult {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

/** Runs the real CLI as a child process and collects status, stdout and stderr. */
export async function runCli (args: readonly string[], options: { input?: string | Uint8Array, cwd?: string, env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return await new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
    child.on('error', reject)
    child.on('close', (status, signal) => {
      resolvePromise({ status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') })
    })
    child.stdin.end(options.input)
  })
}
