import { randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { removeAbandoned, temporaryName } from '../abandoned.ts'
import { openCarSource } from '../car-source.ts'
import { NetError, isSnapstoreError } from '../errors.ts'
import { mergeStores } from '../merge/merge-stores.ts'
import { sendJson, tooLarge } from './serve-reads.ts'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { MergeResult } from '../merge/engine.ts'
import type { StoreLease } from './store-lease.ts'

/** How a server takes pushes. */
export interface ReceivePushOptions {
  maxPushBytes: number
  /** Where uploads wait, as files, until they are merged. */
  tempDir: string
}

// While a large push is merged no byte of the answer flows; a 102 Processing now and then keeps the client's idle timer from firing.
const KEEPALIVE_MS = 10_000

/**
 * Answers `POST /v1/push`: streams the uploaded CAR to a temp file (never whole in memory, at most
 * `maxPushBytes`), then merges it into the store with every check a local merge makes, so nothing
 * unverified is written, and answers with the MergeResult. The temp file is removed whatever happens.
 */
export async function receivePush (req: IncomingMessage, res: ServerResponse, lease: StoreLease, options: ReceivePushOptions): Promise<void> {
  const temp = uploadPath(options.tempDir)
  try {
    let size = 0
    const limit = new Transform({
      transform (chunk: Buffer, _encoding, callback) {
        size += chunk.length
        if (size > options.maxPushBytes) callback(tooLarge(options.maxPushBytes))
        else callback(null, chunk)
      }
    })
    try {
      await pipeline(req, limit, createWriteStream(temp))
    } catch (err) {
      if (isSnapstoreError(err)) throw err
      throw new NetError(`Cannot take the push from ${remoteOf(req)}: the upload broke off after ${size} bytes`, { cause: err, details: { status: 400 } })
    }
    const keepAlive = setInterval(() => { if (!res.destroyed && !res.headersSent) res.writeProcessing() }, KEEPALIVE_MS)
    try {
      const result = await lease.use(async (store): Promise<MergeResult> => {
        const source = await openCarSource(temp, `${remoteOf(req)} (push)`)
        try {
          return await mergeStores(store, source)
        } finally {
          await source.close()
        }
      })
      sendJson(res, 200, result)
    } finally {
      clearInterval(keepAlive)
    }
  } finally {
    await rm(temp, { force: true })
  }
}

/** What a push file's name starts with, client side and server side (see temporaryName). */
const UPLOAD_PREFIX = 'snapstore-push'

/** A new path in `dir` for a push's CAR file, named so that `removeAbandonedUploads` can tell whether its process still runs. */
export function uploadPath (dir: string): string {
  return join(dir, temporaryName(UPLOAD_PREFIX, `${randomBytes(6).toString('hex')}.car`))
}

/**
 * Removes the push files in `dir` left by snapstore processes that no longer run (a server or client
 * killed mid-transfer cannot remove its own); the files of running ones stay.
 */
export async function removeAbandonedUploads (dir: string): Promise<void> {
  await removeAbandoned(dir, UPLOAD_PREFIX, '.car')
}

function remoteOf (req: IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown'
  return address.includes(':') ? `[${address}]` : address
}
