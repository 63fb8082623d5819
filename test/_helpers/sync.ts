import { spawn } from 'node:child_process'
import { createServer, request } from 'node:http'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { addBlob, appendEvents, closeStore, initStore, openStore, putBlob, setTag, verifyStore } from '../../src/index.ts'
import { listing } from './merge.ts'
import { CLI, seededBytes } from './store.ts'
import type { ChildProcess } from 'node:child_process'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { CID } from 'multiformats/cid'
import type { EventDraft } from '../../src/index.ts'
import type { Listing } from './merge.ts'

/** A `snapstore serve` child process. */
export interface Served {
  url: string
  child: ChildProcess
  /** SIGTERM (or `signal`), then waits for the exit; returns the exit status and what it wrote on stderr. */
  stop: (signal?: NodeJS.Signals) => Promise<{ status: number | null, stderr: string }>
  /** SIGKILL, then waits for the exit. */
  kill: () => Promise<void>
}

/**
 * Starts `snapstore serve STORE --port 0 ARGS…` (optionally through a command prefix such as
 * `ip netns exec NS`) and resolves with the URL it prints as its first line. A server that exits
 * first rejects with its stderr. Every server started must be stopped or killed.
 */
export async function startServe (store: string, args: readonly string[] = [], prefix: readonly string[] = []): Promise<Served> {
  const argv = [...prefix, process.execPath, CLI, 'serve', store, '--port', '0', ...args]
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (status) => resolve(status)))
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
      const newline = out.indexOf('\n')
      if (newline >= 0) resolve(out.slice(0, newline))
    })
    child.once('error', reject)
    void exited.then((status) => reject(new Error(`serve exited with ${String(status)} before printing its URL: ${stderr}`)))
  })
  return {
    url,
    child,
    stop: async (signal = 'SIGTERM') => {
      child.kill(signal)
      return { status: await exited, stderr }
    },
    kill: async () => {
      child.kill('SIGKILL')
      await exited
    }
  }
}

/** A small HTTP server in the test process, with its URL. */
export interface TestServer {
  url: string
  close: () => Promise<void>
}

/** What a tampering proxy does to one upstream answer: a new body, or 'reset' to drop the connection mid-answer. */
export type Tamper = (path: string, body: Buffer) => Buffer | 'reset'

/**
 * A fake snapstore server: forwards every request to `upstream` (a real server), reads its answer
 * whole, lets `tamper` change it, and sends the result with a matching length.
 */
export async function tamperingProxy (upstream: string, tamper: Tamper): Promise<TestServer> {
  return await listen(createServer((req, res) => {
    forward(upstream, req, (answer, body) => {
      const changed = tamper(req.url ?? '', body)
      if (changed === 'reset') {
        res.writeHead(answer.statusCode ?? 502, { 'content-length': body.length })
        res.write(body.subarray(0, body.length >> 1))
        res.socket?.destroy()
        return
      }
      res.writeHead(answer.statusCode ?? 502, passedHeaders(answer, changed.length))
      res.end(changed)
    }, () => res.socket?.destroy())
  }))
}

/**
 * A proxy that passes answers through untouched, but calls `before` first with each request's path:
 * the kill test uses it to SIGKILL the real server at a chosen request. When the upstream cannot be
 * reached or breaks off, the client's connection is dropped, as if the server died under it.
 */
export async function watchingProxy (upstream: string, before: (path: string) => Promise<void>): Promise<TestServer> {
  return await listen(createServer((req, res) => {
    void before(req.url ?? '').then(() => {
      forward(upstream, req, (answer, body) => {
        res.writeHead(answer.statusCode ?? 502, passedHeaders(answer, body.length))
        res.end(body)
      }, () => res.socket?.destroy())
    })
  }))
}

/** The upstream's headers for an answer re-sent whole: its own length, no chunked encoding, no connection handling. */
function passedHeaders (answer: IncomingMessage, length: number): Record<string, string | string[] | number> {
  const headers: Record<string, string | string[] | number> = {}
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value !== undefined && !['content-length', 'transfer-encoding', 'connection', 'keep-alive'].includes(name)) headers[name] = value
  }
  headers['content-length'] = length
  return headers
}

function forward (upstream: string, req: IncomingMessage, done: (answer: IncomingMessage, body: Buffer) => void, fail: () => void): void {
  const target = new URL(req.url ?? '/', upstream)
  const out = request(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (answer) => {
    const parts: Buffer[] = []
    answer.on('data', (part: Buffer) => parts.push(part))
    answer.on('end', () => done(answer, Buffer.concat(parts)))
    answer.on('error', fail)
    answer.on('close', () => { if (!answer.complete) fail() })
  })
  out.on('error', fail)
  out.on('continue', () => req.pipe(out))
  if (req.headers.expect === undefined) req.pipe(out)
}

/** Starts a test server on a free loopback port; `scheme` is 'https' for a TLS server. */
export async function listen (server: Server, scheme: 'http' | 'https' = 'http'): Promise<TestServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** The frames of an events answer (4-byte big-endian length, then the bytes). */
export function splitFrames (body: Buffer): Buffer[] {
  const frames: Buffer[] = []
  for (let offset = 0; offset + 4 <= body.length;) {
    const length = body.readUInt32BE(offset)
    frames.push(body.subarray(offset, offset + 4 + length))
    offset += 4 + length
  }
  return frames
}

/** Writes a token file and returns its path. */
export async function tokenFile (dir: string, name: string, token: string): Promise<string> {
  const path = join(dir, name)
  await writeFile(path, `${token}\n`, { mode: 0o600 })
  return path
}

/**
 * Creates a store at `path` holding `count` snapshots of `size` seeded bytes (seeds from `seed`), named
 * `state-N`, and a tag `latest` on the last; returns the snapshot ids.
 */
export async function seedStore (path: string, count: number, size: number, seed = 1): Promise<CID[]> {
  const store = await initStore(path)
  try {
    const ids: CID[] = []
    const drafts: EventDraft[] = []
    for (let i = 0; i < count; i++) {
      const { id } = await putBlob(store, seededBytes(size, seed + i))
      ids.push(id)
      drafts.push({ type: 'blob.add', body: { blob: id, kind: 'snapshot', size, name: `state-${i}` } })
    }
    await appendEvents(store, drafts)
    if (ids.length > 0) await setTag(store, 'latest', ids[ids.length - 1]!)
    return ids
  } finally {
    await closeStore(store)
  }
}

/** Adds one snapshot of `mib` MiB, streamed 1 MiB at a time, to a new store at `path`; returns its id. */
export async function seedLargeBlob (path: string, mib: number): Promise<CID> {
  const store = await initStore(path)
  try {
    const pieces = async function * (): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < mib; i++) yield seededBytes(1024 * 1024, 1000 + i)
    }
    return (await addBlob(store, 'snapshot', pieces(), { name: 'large' })).id
  } finally {
    await closeStore(store)
  }
}

/** The response of a raw request to a server: status, headers, body. */
export interface RawAnswer {
  status: number
  headers: IncomingMessage['headers']
  body: Buffer
}

/** Sends one raw HTTP request (for protocol-level tests) and reads the whole answer. */
export async function rawRequest (url: string, options: { method?: string, headers?: Record<string, string>, body?: Uint8Array } = {}): Promise<RawAnswer> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (part: Buffer) => parts.push(part))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** A request that sends its headers and part of its body, then holds the connection open until released. */
export interface HeldRequest {
  /** Finishes the body and waits for the answer's status. */
  release: () => Promise<number>
}

/** Starts a POST with a declared body it only half sends: the server counts it as in progress until released. */
export async function holdRequest (url: string, token?: string): Promise<HeldRequest> {
  const body = Buffer.alloc(64)
  const headers: Record<string, string | number> = { 'content-length': body.length }
  if (token !== undefined) headers['authorization'] = `Bearer ${token}`
  const req = request(url, { method: 'POST', headers })
  const status = new Promise<number>((resolve, reject) => {
    req.on('response', (res: IncomingMessage) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
    req.on('error', reject)
  })
  await new Promise<void>((resolve) => req.write(body.subarray(0, 32), () => resolve()))
  return {
    release: async () => {
      req.end(body.subarray(32))
      return await status
    }
  }
}

/** A response writer helper for fakes: answers JSON. */
export function answerJson (res: ServerResponse, status: number, value: unknown): void {
  const bytes = Buffer.from(JSON.stringify(value))
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length })
  res.end(bytes)
}

/** An environment without a client token, whatever the test process has. */
export const NO_TOKEN = { SNAPSTORE_TOKEN: '' }

/** The line `merge` prints for one source. */
export function merged (events: number, blobs: number, size: number, url: string): string {
  return `merged ${events} events, ${blobs} blobs (${size} bytes) from ${url}\n`
}

/** Creates an empty store at `path` through the library (setup that is not under test). */
export async function init (path: string): Promise<void> {
  await closeStore(await initStore(path))
}

/** Opens a closed store, asserts it verifies, and returns its listings with the events and blobs verify counted. */
export async function inspect (path: string): Promise<{ listing: Listing, events: number, blobs: number }> {
  const store = await openStore(path)
  try {
    const report = await verifyStore(store)
    assert.equal(report.problems, [], `${path} verifies`)
    return { listing: await listing(store), events: report.events, blobs: report.blobs }
  } finally {
    await closeStore(store)
  }
}
