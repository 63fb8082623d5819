import { createReadStream } from 'node:fs'
import { hostname } from 'node:os'
import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { pipeline } from 'node:stream/promises'
import { httpsCa } from './extra-ca.ts'
import { BatchReader } from './protocol.ts'
import { AuthError, BadInputError, CorruptError, ForkError, LockedError, NetError, NotFoundError, SnapstoreError } from '../errors.ts'
import type { ClientRequest, IncomingMessage } from 'node:http'
import type { ErrorCode } from '../errors.ts'
import type { ErrorReply } from './protocol.ts'
import type { Pieces } from '../pieces.ts'

/** How to reach a peer. */
export interface PeerOptions {
  /** Sent as `Authorization: Bearer TOKEN`. */
  token?: string
  /** Milliseconds without a byte from the peer (or to connect) before `E_NET`. @default 30000 */
  timeoutMs?: number
  /** Seconds to keep asking a server whose store another process holds, before `E_LOCKED`. @default 5 */
  wait?: number
}

/** One request to a peer. */
export interface PeerRequest {
  method?: 'GET' | 'POST'
  /** Path below the peer's URL, e.g. `/v1/heads`. */
  path: string
  /** What the request is for, in messages: "read the heads", "fetch chunk 3f2a…". */
  what: string
  /** Messages say "to URL" (a push) rather than "from URL". */
  to?: boolean
  /** A body in memory, or a file sent with its length after the server agreed (`Expect: 100-continue`). */
  body?: Uint8Array | { file: string, size: number, onSent?: (bytes: number) => void }
  /** Largest answer accepted. */
  limit: number
  /** Answer undefined on 404 instead of failing. */
  missingOk?: boolean
}

const CONCURRENCY = 4
const RETRIES_WHEN_BUSY = 8
const EMPTY = Buffer.alloc(0)
/** Bytes of an error answer kept (an error page past it says nothing more). */
const ERROR_BODY_BYTES = 64 * 1024

/** A peer's answer: its status, and its body read whole or, for a batch, cut into items by its reader. */
interface Answer {
  status: number
  body: Buffer
  reader?: BatchReader | undefined
  retryAfter: number | undefined
}

/** Parses a peer's URL; anything but a well-formed http:// or https:// URL is `E_BAD_INPUT`. */
function parseUrl (text: string): URL {
  let url: URL
  try {
    url = new URL(text)
  } catch (err) {
    throw new BadInputError(`Invalid URL "${text}"`, { cause: err })
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BadInputError(`Invalid URL "${text}": expected http:// or https://`)
  return url
}

/** Removes user and password from a URL, so it can be printed and journaled; a malformed URL is `E_BAD_INPUT`. */
export function redactUrl (text: string): string {
  const url = parseUrl(text)
  if (url.username === '' && url.password === '') return text
  // Cut from the text, not rebuilt from the URL, so the rest stays as typed (URL would add a "/"); a form
  // the cut misses (URL accepts "http:\\u:p@h" and more) is rebuilt from the URL without them.
  const cut = text.replace(/^(\s*[a-z][a-z0-9+.-]*:[\\/]*)[^/?#\\]*@/i, '$1')
  const left = URL.canParse(cut) ? new URL(cut) : undefined
  if (left !== undefined && left.username === '' && left.password === '' && left.host === url.host && left.pathname === url.pathname) return cut
  url.username = ''
  url.password = ''
  return url.toString()
}

/**
 * A snapstore server seen from a client: requests with a token, at most four at a time over kept-alive
 * connections, answers read whole within a limit, and failures mapped to `E_NET` (cannot connect, reset,
 * timeout, bad status, naming the URL), `E_AUTH` (401, 403), or the code the server reported.
 */
export class Peer {
  /** The URL without credentials: how messages and the journal name the peer. */
  readonly name: string
  readonly #base: URL
  /** The URL's path without a trailing slash ('' at the root): requests go below it. */
  readonly #basePath: string
  readonly #token: string | undefined
  readonly #timeoutMs: number
  readonly #waitMs: number
  readonly #agent: HttpAgent
  readonly #request: typeof httpRequest
  #active = 0
  readonly #waiting: Array<() => void> = []
  #closed = false

  constructor (url: string, options: PeerOptions = {}) {
    const base = parseUrl(url)
    this.name = redactUrl(url)
    base.username = ''
    base.password = ''
    this.#basePath = base.pathname.replace(/\/+$/, '')
    this.#base = base
    this.#token = options.token
    this.#timeoutMs = options.timeoutMs ?? 30_000
    this.#waitMs = (options.wait ?? 5) * 1000
    const https = base.protocol === 'https:'
    this.#agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: CONCURRENCY, ca: httpsCa() }) : new HttpAgent({ keepAlive: true, maxSockets: CONCURRENCY })
    this.#request = https ? httpsRequest : httpRequest
  }

  /** Sends a request and reads the whole answer; undefined for a 404 when `missingOk`. Waits and retries while the server is busy (503). */
  async send (request: PeerRequest): Promise<Buffer | undefined> {
    return (await this.#send(request))?.body
  }

  /**
   * Sends a batch request and reads its answer as exactly `count` items (undefined where the server lacks one),
   * without joining the answer whole; items are copied into `memory` while they fit (see BatchReader).
   */
  async items (request: PeerRequest, count: number, memory?: Uint8Array): Promise<Array<Pieces | undefined>> {
    const answer = await this.#send(request, () => new BatchReader(this.name, memory))
    return answer!.reader!.finish(count)
  }

  async #send (request: PeerRequest, newReader?: () => BatchReader): Promise<Answer | undefined> {
    let lockedUntil: number | undefined
    let busy = 0
    for (;;) {
      await this.#acquire()
      let answer: Answer
      try {
        // Closed (an interruption) while waiting to ask, or to ask again.
        if (this.#closed) throw new NetError(`${this.#at(request)}: the connection was closed`, { details: { url: this.name } })
        answer = await this.#exchange(request, newReader?.())
      } finally {
        this.#release()
      }
      if (answer.status === 200) return answer
      if (answer.status === 404 && request.missingOk === true) return undefined
      if (answer.status === 503 && busy < RETRIES_WHEN_BUSY) {
        // Retry-After is in whole seconds; a busy server frees a slot much sooner, so back off from 50 ms, up to what it asks.
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** busy++, (answer.retryAfter ?? 2) * 1000)))
        continue
      }
      // Held by this very process (the served store is the one this command works on): waiting cannot help.
      if (answer.status === 423 && !heldHere(answer.body)) {
        // Another process holds the served store: asked again for as long as this client waits for a store.
        lockedUntil ??= Date.now() + this.#waitMs
        const left = lockedUntil - Date.now()
        if (left > 0) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(250, left)))
          continue
        }
      }
      throw this.#statusError(request, answer.status, answer.body)
    }
  }

  /** Drops kept-alive connections; requests after it fail. */
  close (): void {
    this.#closed = true
    this.#agent.destroy()
  }

  async #acquire (): Promise<void> {
    if (this.#active < CONCURRENCY) {
      this.#active++
      return
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve))
  }

  #release (): void {
    const next = this.#waiting.shift()
    if (next !== undefined) next()
    else this.#active--
  }

  /** One request and its answer: a 200 answer goes to `reader` when there is one, any other is read whole (it is small). */
  async #exchange (request: PeerRequest, reader?: BatchReader): Promise<Answer> {
    const url = new URL(this.#base.toString())
    const [pathname, query = ''] = request.path.split('?')
    url.pathname = this.#basePath + (pathname ?? '')
    url.search = query
    const headers: Record<string, string | number> = {}
    if (this.#token !== undefined) headers['authorization'] = `Bearer ${this.#token}`
    const body = request.body
    if (body instanceof Uint8Array) headers['content-length'] = body.length
    else if (body !== undefined) Object.assign(headers, { 'content-length': body.size, 'content-type': 'application/vnd.ipld.car', expect: '100-continue' })
    return await new Promise((resolve, reject) => {
      const fail = (err: unknown): void => { reject(this.#netError(request, err)) }
      const req: ClientRequest = this.#request(url, { method: request.method ?? 'GET', headers, agent: this.#agent })
      req.setTimeout(this.#timeoutMs, () => {
        req.destroy(Object.assign(new Error(`no answer for ${this.#timeoutMs / 1000} s`), { code: 'ETIMEDOUT' }))
      })
      req.on('error', fail)
      let continued = false
      req.on('continue', () => {
        continued = true
        if (body === undefined || body instanceof Uint8Array) return
        const file = createReadStream(body.file)
        let sent = 0
        file.on('data', (part: Buffer | string) => { sent += part.length; body.onSent?.(sent) })
        pipeline(file, req).catch((err: unknown) => { req.destroy(err as Error) })
      })
      req.on('response', (res: IncomingMessage) => {
        const status = res.statusCode ?? 0
        const limit = status === 200 ? request.limit : ERROR_BODY_BYTES
        const declared = Number(res.headers['content-length'] ?? 0)
        if (status === 200 && declared > limit) {
          res.destroy()
          reject(new CorruptError(`${this.#at(request)}: the answer has ${declared} bytes, more than the ${limit} expected`))
          return
        }
        const into = status === 200 ? reader : undefined
        const parts: Buffer[] = []
        let size = 0
        const settle = (): void => {
          const retryAfter = Number(res.headers['retry-after'])
          resolve({ status, body: into === undefined ? Buffer.concat(parts) : EMPTY, reader: into, retryAfter: Number.isFinite(retryAfter) ? retryAfter : undefined })
        }
        res.on('data', (part: Buffer) => {
          size += part.length
          if (size > limit && status !== 200) {
            // An error answer's first bytes are enough (a proxy's error page can be long); the rest is not read.
            parts.push(part.subarray(0, part.length - (size - limit)))
            settle()
            res.destroy()
            return
          }
          if (size > limit) {
            res.destroy()
            reject(new CorruptError(`${this.#at(request)}: the answer exceeds ${limit} bytes`))
            return
          }
          if (into === undefined) {
            parts.push(part)
            return
          }
          try {
            into.push(part)
          } catch (err) {
            res.destroy()
            reject(err)
          }
        })
        res.on('error', fail)
        res.on('close', () => { if (!res.complete) fail(Object.assign(new Error('the answer broke off'), { code: 'ECONNRESET' })) })
        res.on('end', () => {
          settle()
          // Refused before the upload began: the body is never sent, so the request is dropped, not finished.
          if (body !== undefined && !(body instanceof Uint8Array) && !continued) req.destroy()
        })
      })
      if (body instanceof Uint8Array) req.end(body)
      else if (body === undefined) req.end()
    })
  }

  #at (request: PeerRequest): string {
    return `Cannot ${request.what} ${request.to === true ? 'to' : 'from'} ${this.name}`
  }

  #netError (request: PeerRequest, err: unknown): SnapstoreError {
    if (err instanceof SnapstoreError) return err
    const code = (err as NodeJS.ErrnoException).code ?? ''
    const host = this.#base.host
    const why: Record<string, string> = {
      ECONNREFUSED: `connection refused by ${host} (is "snapstore serve" running there?)`,
      ECONNRESET: `the connection to ${host} was reset`,
      EPIPE: `the connection to ${host} was closed while sending`,
      ETIMEDOUT: `no answer from ${host} for ${this.#timeoutMs / 1000} s`,
      ENOTFOUND: `host ${this.#base.hostname} not found`,
      EAI_AGAIN: `host ${this.#base.hostname} cannot be resolved now`,
      EHOSTUNREACH: `host ${host} is unreachable`,
      ENETUNREACH: `network to ${host} is unreachable`,
      EPROTO: `the TLS handshake with ${host} failed (does it serve http://, not https://?)`,
      ERR_SSL_WRONG_VERSION_NUMBER: `the TLS handshake with ${host} failed (does it serve http://, not https://?)`,
      DEPTH_ZERO_SELF_SIGNED_CERT: `${host} presents a self-signed certificate this host does not trust`,
      SELF_SIGNED_CERT_IN_CHAIN: `${host} presents a certificate chain this host does not trust`,
      UNABLE_TO_VERIFY_LEAF_SIGNATURE: `${host} presents a certificate this host cannot verify`,
      CERT_HAS_EXPIRED: `the certificate of ${host} has expired`,
      ERR_TLS_CERT_ALTNAME_INVALID: `the certificate of ${host} is for another name`
    }
    return new NetError(`${this.#at(request)}: ${why[code] ?? `${(err as Error).message}${code === '' ? '' : ` (${code})`}`}`,
      { cause: err, details: { url: this.name, code } })
  }

  #statusError (request: PeerRequest, status: number, body: Buffer): SnapstoreError {
    const reply = parseReply(body)
    const at = this.#at(request)
    if (status === 401) {
      return new AuthError(this.#token === undefined
        ? `${at}: the server requires a token (pass --token-file FILE or set SNAPSTORE_TOKEN)`
        : `${at}: the server refused the token`, { details: { url: this.name, status } })
    }
    if (status === 403) return new AuthError(`${at}: ${reply?.message ?? 'forbidden'}`, { details: { url: this.name, status } })
    if (status === 423 && heldHere(body)) {
      return new LockedError(`${at}: the server cannot open the store it serves because this process holds it: is the server serving the store this command works on? (a store merged into itself copies nothing)`, { details: { url: this.name, status } })
    }
    const known = reply === undefined ? undefined : REMOTE_ERRORS[reply.code as ErrorCode]
    if (known !== undefined && status !== 404) return new known(`${at}: the server says: ${reply!.message}`, { details: { url: this.name, status } })
    return new NetError(`${at}: the server answered ${status}${reply === undefined ? '' : ` (${reply.message})`}`, { details: { url: this.name, status } })
  }
}

// Errors a server reports about what it was sent (a push) keep their codes on the client.
const REMOTE_ERRORS: Partial<Record<ErrorCode, new (message: string, options?: { details?: Record<string, unknown> }) => SnapstoreError>> = {
  E_CORRUPT: CorruptError, E_FORK: ForkError, E_BAD_INPUT: BadInputError, E_LOCKED: LockedError, E_NOT_FOUND: NotFoundError
}

/** True when an `E_LOCKED` answer names this process, on this host, as the holder of the served store. */
function heldHere (body: Buffer): boolean {
  const reply = parseReply(body)
  return reply?.pid === process.pid && reply.host === hostname()
}

function parseReply (body: Buffer): ErrorReply | undefined {
  try {
    const value = JSON.parse(body.toString('utf8')) as Partial<ErrorReply>
    if (typeof value.code !== 'string' || typeof value.message !== 'string') return undefined
    return { code: value.code, message: value.message, ...(typeof value.pid === 'number' && typeof value.host === 'string' ? { pid: value.pid, host: value.host } : {}) }
  } catch {
    return undefined
  }
}
