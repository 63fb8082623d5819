import { createServer } from 'node:http'
import { hostname, tmpdir } from 'node:os'
import { AuthError, BadInputError, NotFoundError, isSnapstoreError } from '../errors.ts'
import { eventKey } from '../keys.ts'
import { API, DIGEST_PATTERN, ORIGIN_PATTERN, SEQ_PATTERN } from './protocol.ts'
import { receivePush, removeAbandonedUploads } from './receive-push.ts'
import { readItem, sendBatch, sendEvents, sendHeads, sendJson, sendLacking, sendValue, tooLarge } from './serve-reads.ts'
import { StoreLease } from './store-lease.ts'
import { bearerCheck } from './token.ts'
import { describeSystemError } from '../system-errors.ts'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ErrorCode } from '../errors.ts'
import type { SyncLimits } from './protocol.ts'
import type { TokenCheck } from './token.ts'

/** Options of `serveStore`. */
export interface ServeOptions {
  /** Address to listen on. @default '127.0.0.1' */
  bind?: string
  /** Port to listen on; 0 picks a free one. @default 7420 */
  port?: number
  /** When set, every request needs `Authorization: Bearer TOKEN`. */
  token?: string
  /** Take pushes (`POST /v1/push`); without it the server is read-only. @default false */
  allowPush?: boolean
  /** Seconds a request waits for another process to release the store. @default 5 */
  wait?: number
  /** Largest push accepted, in bytes. @default 4 GiB */
  maxPushBytes?: number
  /** Most events sent for one request. @default 10000 */
  maxEvents?: number
  /** Most requests answered at once; more get 503. @default 8 */
  maxConcurrent?: number
  /** Where pushes wait as files until merged. @default os.tmpdir() */
  tempDir?: string
  /** Called with errors that are not the client's doing (a bug, a disk failure), for the caller to log. */
  onError?: (err: unknown) => void
}

/** A running server. */
export interface SyncServer {
  /** The URL clients use, e.g. `http://127.0.0.1:7420`. */
  url: string
  port: number
  /** Stops taking connections, lets requests in progress finish (for up to `graceMs`), and closes the store. */
  close: (graceMs?: number) => Promise<void>
}

/** The port `serve` listens on unless told otherwise. */
export const DEFAULT_PORT = 7420

// A store held by another process is 423 (Locked), not 503: a client waits for that as long as its own --wait
// says, where it retries a busy server (503) a few times.
const STATUS: Partial<Record<ErrorCode, number>> = { E_BAD_INPUT: 400, E_AUTH: 403, E_NOT_FOUND: 404, E_FORK: 409, E_CORRUPT: 422, E_LOCKED: 423, E_NET: 400 }
// Each client keeps up to four connections: this many serve 64 clients at once (more when more requests
// are answered at once). Node drops connections past it.
const MIN_CONNECTIONS = 256

/**
 * Serves a store to `merge` (pull) and `push` over HTTP. The store is opened only while requests are
 * answered; request sizes, event ranges and concurrency are bounded, and with a token every request
 * must carry it. Resolves once listening.
 * @example
 * const server = await serveStore('./master.store', { port: 0, token: 's3cret' })
 * console.log(server.url)
 * await server.close()
 */
export async function serveStore (path: string, options: ServeOptions = {}): Promise<SyncServer> {
  const lease = new StoreLease(path, { wait: options.wait ?? 5 })
  await lease.use(async () => undefined)
  const limits: SyncLimits = { maxEvents: options.maxEvents ?? 10_000, maxPushBytes: options.maxPushBytes ?? 4 * 1024 ** 3, maxDigests: 65_536, maxBatch: 1024 }
  const context: Context = {
    lease,
    limits,
    token: options.token === undefined ? undefined : bearerCheck(options.token),
    allowPush: options.allowPush === true,
    maxConcurrent: options.maxConcurrent ?? 8,
    tempDir: options.tempDir ?? tmpdir(),
    inFlight: 0,
    closing: false,
    onError: options.onError ?? (() => undefined)
  }
  if (context.allowPush) await removeAbandonedUploads(context.tempDir)
  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 5_000 })
  // Pushes are long: the whole request has no deadline, but a connection idle for a minute is dropped.
  server.setTimeout(60_000)
  server.maxConnections = Math.max(MIN_CONNECTIONS, 4 * context.maxConcurrent)
  server.on('request', (req: IncomingMessage, res: ServerResponse) => { void answer(req, res, context, false) })
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => { void answer(req, res, context, true) })
  const bind = options.bind ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? DEFAULT_PORT, bind, () => { server.off('error', reject); resolve() })
  }).catch(async (err: NodeJS.ErrnoException) => {
    await lease.close()
    throw new BadInputError(`Cannot listen on ${bind}:${options.port ?? DEFAULT_PORT}: ${LISTEN_ERRORS[err.code ?? ''] ?? describeSystemError(err.code ?? err.message)}`, { cause: err })
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${bind.includes(':') ? `[${bind}]` : bind}:${port}`,
    port,
    close: async (graceMs = 5_000) => {
      context.closing = true
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const timer = setTimeout(() => server.closeAllConnections(), graceMs)
      await closed
      clearTimeout(timer)
      await lease.close()
    }
  }
}

// Why a server cannot listen, in words.
const LISTEN_ERRORS: Record<string, string> = {
  EADDRINUSE: 'the port is in use',
  EADDRNOTAVAIL: 'no interface of this host has that address',
  ENOTFOUND: 'no host of that name',
  EAI_AGAIN: 'the name cannot be resolved now'
}

interface Context {
  lease: StoreLease
  limits: SyncLimits
  token: TokenCheck | undefined
  allowPush: boolean
  maxConcurrent: number
  tempDir: string
  inFlight: number
  /** Set once `close` is called: answers then end their connection, so kept-alive clients let go. */
  closing: boolean
  onError: (err: unknown) => void
}

async function answer (req: IncomingMessage, res: ServerResponse, context: Context, expectsContinue: boolean): Promise<void> {
  if (context.token !== undefined && !context.token.accepts(req.headers.authorization)) {
    // Nothing is revealed without the token: not even which paths exist.
    res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-length': 0, connection: expectsContinue ? 'close' : 'keep-alive' })
    res.end()
    return
  }
  if (context.inFlight >= context.maxConcurrent) {
    res.setHeader('retry-after', '1')
    sendJson(res, 503, { code: 'E_NET', message: `The server is busy: ${context.maxConcurrent} requests are in progress` })
    return
  }
  if (context.closing) res.setHeader('connection', 'close')
  context.inFlight++
  let counted = true
  const done = (): void => {
    if (counted) context.inFlight--
    counted = false
  }
  res.once('finish', done)
  res.once('close', done)
  try {
    await route(req, res, context, expectsContinue)
  } catch (err) {
    if (res.headersSent) {
      res.destroy()
    } else if (isSnapstoreError(err)) {
      const status = typeof err.details['status'] === 'number' ? err.details['status'] : STATUS[err.code] ?? 500
      if (status === 413 || expectsContinue) res.setHeader('connection', 'close')
      sendJson(res, status, { code: err.code, message: err.message, ...lockHolder(err.details) })
    } else {
      context.onError(err)
      sendJson(res, 500, { code: 'E_INTERNAL', message: 'Internal error' })
    }
  }
}

/** For a store held by another process: that process's pid and this host's name, so a client can tell when it is itself. */
function lockHolder (details: Record<string, unknown>): { pid?: number, host?: string } {
  return typeof details['pid'] === 'number' ? { pid: details['pid'], host: hostname() } : {}
}

async function route (req: IncomingMessage, res: ServerResponse, context: Context, expectsContinue: boolean): Promise<void> {
  const { lease, limits } = context
  let url: URL
  try {
    url = new URL(req.url ?? '/', 'http://server')
  } catch (err) {
    throw new BadInputError('Cannot read the request: its target is not a path', { cause: err })
  }
  const parts = url.pathname.split('/').slice(1)
  if (`/${parts[0] ?? ''}` !== API) throw new NotFoundError(`No such path: ${url.pathname}`)
  const [, what = '', a, b, ...rest] = parts
  const method = req.method ?? 'GET'
  const expect = (wanted: string, count: number): void => {
    if ([a, b].filter((part) => part !== undefined).length !== count || rest.length > 0) throw new NotFoundError(`No such path: ${url.pathname}`)
    if (method !== wanted) throw new BadInputError(`Method ${method} is not allowed on ${url.pathname}`, { details: { status: 405 } })
  }
  switch (what) {
    case 'heads':
      expect('GET', 0)
      return await sendHeads(res, lease, limits, context.allowPush)
    case 'events': {
      expect('GET', 1)
      const from = seqParam(url.searchParams.get('from'), 'from')
      const to = seqParam(url.searchParams.get('to'), 'to')
      if (from > to) throw new BadInputError(`Invalid range: from ${from} is above to ${to}`)
      return await sendEvents(res, lease, originParam(a), from, to, limits.maxEvents)
    }
    case 'event': {
      expect('GET', 2)
      const key = eventKey(originParam(a), seqParam(b ?? null, 'seq'))
      return await sendValue(res, await lease.use(async (store) => await store.sub.event.get(key)))
    }
    case 'blob':
    case 'chunk': {
      expect('GET', 1)
      const hex = digestParam(a)
      return await sendValue(res, await lease.use(async (store) => await readItem(store, what, hex)))
    }
    case 'blobs':
    case 'chunks': {
      expect('POST', 0)
      return await sendBatch(req, res, lease, what === 'blobs' ? 'blob' : 'chunk', limits.maxBatch)
    }
    case 'lacking': {
      expect('POST', 1)
      if (a !== 'blobs' && a !== 'chunks') throw new NotFoundError(`No such path: ${url.pathname}`)
      if (expectsContinue) res.writeContinue()
      return await sendLacking(req, res, lease, a === 'blobs' ? 'blob' : 'chunk', limits.maxDigests)
    }
    case 'push': {
      expect('POST', 0)
      if (!context.allowPush) throw new AuthError('Cannot take the push: this server is read-only (start it with "snapstore serve --allow-push")')
      if (Number(req.headers['content-length'] ?? 0) > limits.maxPushBytes) throw tooLarge(limits.maxPushBytes)
      // A store another process holds is reported before the upload is taken, not after.
      await lease.use(async () => undefined)
      if (expectsContinue) res.writeContinue()
      return await receivePush(req, res, lease, { maxPushBytes: limits.maxPushBytes, tempDir: context.tempDir })
    }
    default:
      throw new NotFoundError(`No such path: ${url.pathname}`)
  }
}

function originParam (text: string | undefined): string {
  if (text === undefined || !ORIGIN_PATTERN.test(text)) throw new BadInputError(`Invalid origin "${text ?? ''}": expected 32 lowercase hex digits`)
  return text
}

function digestParam (text: string | undefined): string {
  if (text === undefined || !DIGEST_PATTERN.test(text)) throw new BadInputError(`Invalid digest "${text ?? ''}": expected 64 lowercase hex digits`)
  return text
}

function seqParam (text: string | null, name: string): number {
  const value = text === null || !SEQ_PATTERN.test(text) ? NaN : Number(text)
  if (!Number.isSafeInteger(value)) throw new BadInputError(`Invalid ${name} "${text ?? ''}": expected a positive integer`)
  return value
}
