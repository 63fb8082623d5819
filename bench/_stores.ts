import { spawn } from 'node:child_process'
import { open, readFile } from 'node:fs/promises'
import { basename, dirname, relative } from 'node:path'
import { appendEvents, closeStore, digestHex, initStore, putBlob } from '../src/index.ts'
import { check, command } from './_lib.ts'
import type { CID } from 'multiformats/cid'
import type { InputSet } from './_lib.ts'
import type { EventDraft, Store } from '../src/index.ts'

/** Blob puts in flight at once while a store is built, overlapping their synced writes (100,000 tiny blobs: 26.3 s with 4, 16.8 s with 16). */
export const PUT_CONCURRENCY = 16
const MiB = 1024 * 1024

/** Puts `count` small blobs, the UTF-8 of `text(i)`, PUT_CONCURRENCY at a time; returns their ids in order. */
export async function putGenerated (store: Store, count: number, text: (i: number) => string): Promise<CID[]> {
  const ids: CID[] = []
  for (let i = 0; i < count; i += PUT_CONCURRENCY) {
    const puts = await Promise.all(Array.from({ length: Math.min(PUT_CONCURRENCY, count - i) }, async (_, j) => await putBlob(store, Buffer.from(text(i + j)))))
    for (const put of puts) ids.push(put.id)
  }
  return ids
}

/** Stores the files of `set` (already written) as snapshots of a new, closed store: putBlob a few at a time, then blob.add per 1,000. */
export async function buildSnapshotStore (path: string, set: InputSet): Promise<void> {
  const store = await initStore(path)
  try {
    const puts: Array<{ id: CID, size: number }> = []
    for (let i = 0; i < set.files.length; i += PUT_CONCURRENCY) {
      const batch = set.files.slice(i, i + PUT_CONCURRENCY)
      puts.push(...await Promise.all(batch.map(async (file) => await putBlob(store, await readFile(file)))))
    }
    puts.forEach((put, i) => check(digestHex(put.id) === set.digests[i], `putBlob gave ${digestHex(put.id)} for ${set.files[i]!}, whose sha-256 is ${set.digests[i]!}`))
    for (let i = 0; i < puts.length; i += 1000) {
      const drafts: EventDraft[] = puts.slice(i, i + 1000).map((put, j) => ({ type: 'blob.add', body: { blob: put.id, kind: 'snapshot', size: put.size, name: basename(set.files[i + j]!) } }))
      await appendEvents(store, drafts, { sync: i + 1000 >= puts.length })
    }
  } finally {
    await closeStore(store)
  }
}

/**
 * Commits every file of every set into a new git repository the way a user does: `git add` of each set's
 * directory (files stay where they are, the work tree is their common parent), then `git commit`, one commit
 * per set. The objects stay loose (as they are until git gc packs them), so a fetch from it packs them:
 * compression and a delta search, as a fetch from a user's repository between two gcs does.
 */
export function gitAddCommits (gitDir: string, workTree: string, sets: readonly InputSet[]): void {
  command('git', ['init', '-q', '--bare', gitDir])
  // gc.auto=0: git commit would otherwise start packing past 6,700 loose objects, in the background, during the measurements.
  const git = ['-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', '-c', 'gc.auto=0', '--git-dir', gitDir, '--work-tree', workTree]
  for (const [s, set] of sets.entries()) {
    command('git', [...git, 'add', relative(workTree, dirname(set.files[0]!))])
    command('git', [...git, 'commit', '-q', '-m', `store ${s}`])
  }
}

/** Commits every file of every set into a new bare git repository with git fast-import: one commit per set, each file streamed. */
export async function gitImport (gitDir: string, sets: readonly InputSet[]): Promise<void> {
  command('git', ['init', '-q', '--bare', gitDir])
  // Blobs above core.bigFileThreshold are stored whole, at the default compression, without a delta search
  // (which finds nothing in random bytes): 8,000 × 64 KiB import in about 30 s instead of 45 s.
  const child = spawn('git', ['-c', 'core.bigFileThreshold=1k', '--git-dir', gitDir, 'fast-import', '--quiet'], { stdio: ['pipe', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (piece: Buffer) => { stderr += piece.toString() })
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve))
  const write = async (piece: string | Buffer): Promise<void> => {
    if (!child.stdin.write(piece)) await new Promise((resolve) => child.stdin.once('drain', resolve))
  }
  for (const [s, set] of sets.entries()) {
    const message = `store ${s}\n`
    await write(`commit refs/heads/main\ncommitter bench <bench@example.invalid> ${1_700_000_000 + s} +0000\ndata ${Buffer.byteLength(message)}\n${message}`)
    for (const file of set.files) {
      const handle = await open(file, 'r')
      try {
        const { size } = await handle.stat()
        await write(`M 100644 inline store-${s}/${basename(file)}\ndata ${size}\n`)
        for await (const piece of handle.createReadStream({ highWaterMark: 4 * MiB, autoClose: false })) await write(piece as Buffer)
        await write('\n')
      } finally {
        await handle.close()
      }
    }
  }
  child.stdin.end()
  const code = await closed
  check(code === 0, `git fast-import exited ${String(code)}: ${stderr.trim().slice(0, 500)}`)
}

/** Number of blobs in a git repository. */
export function gitBlobCount (gitDir: string): number {
  const out = command('git', ['--git-dir', gitDir, 'cat-file', '--batch-all-objects', '--batch-check=%(objecttype)']).stdout.toString()
  return out.split('\n').filter((line) => line === 'blob').length
}
