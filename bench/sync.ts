import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { basename, join } from 'node:path'
import { addBlob, closeStore, digestHex, initStore, listBlobIds, mergeStores, openStore } from '../src/index.ts'
import {
  CLI, QUICK, blobIdString, check, command, compare, dirBytes, formatNumber, gitEnabled, knob, makeInputs, progress, removeDir,
  rounds, runAsMain, tempDir, timed
} from './_lib.ts'
import { buildSnapshotStore, gitBlobCount, gitImport } from './_stores.ts'
import type { ChildProcess } from 'node:child_process'
import type { Comparison, Contender, InputSet, ScenarioResult } from './_lib.ts'
import type { MergeResult, Store } from '../src/index.ts'

const MiB = 1024 * 1024

/** Stores every file of `set` as a snapshot of a new, closed store: addBlob by path for large files (streamed), the small-file builder otherwise. */
async function buildSource (path: string, set: InputSet, large: boolean): Promise<void> {
  if (!large) {
    await buildSnapshotStore(path, set)
    return
  }
  const store = await initStore(path)
  try {
    for (const [i, file] of set.files.entries()) {
      const { id } = await addBlob(store, 'snapshot', { path: file }, { name: basename(file) })
      check(digestHex(id) === set.digests[i], `addBlob gave ${digestHex(id)} for ${file}, whose sha-256 is ${set.digests[i]!}`)
    }
  } finally {
    await closeStore(store)
  }
}

/** A running `snapstore serve` child process and the URL it printed. */
interface Server {
  child: ChildProcess
  url: string
}

/** Starts `snapstore serve STORE --port 0` and waits for the URL on its first stdout line. */
async function startServer (store: string): Promise<Server> {
  const child = spawn(CLI, ['serve', store, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    const onData = (piece: Buffer): void => {
      out += piece.toString()
      const newline = out.indexOf('\n')
      if (newline >= 0) {
        child.stdout!.off('data', onData)
        child.off('exit', onExit)
        resolve(out.slice(0, newline).trim())
      }
    }
    const onExit = (code: number | null): void => { reject(new Error(`snapstore serve exited ${String(code)} before printing its URL`)) }
    child.stdout!.on('data', onData)
    child.once('exit', onExit)
    child.once('error', reject)
  }).catch((err: unknown) => { child.kill('SIGKILL'); throw err })
  child.stdout!.resume()
  check(/^http:\/\/127\.0\.0\.1:\d+/.test(url), `snapstore serve printed ${JSON.stringify(url)}, not a loopback URL`)
  return { child, url }
}

/** Stops the server by its pid (SIGTERM: it closes cleanly), SIGKILL after 10 s. */
async function stopServer (server: Server): Promise<void> {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return
  const closed = new Promise<void>((resolve) => server.child.once('close', () => { resolve() }))
  server.child.kill('SIGTERM')
  const timer = setTimeout(() => { server.child.kill('SIGKILL') }, 10_000)
  await closed
  clearTimeout(timer)
}

/** One table: pull of `set` over loopback HTTP into a fresh store, beside a local merge of a byte copy of the same store and git fetch over file://. */
async function syncPart (
  data: string, label: string, set: InputSet, large: boolean, n: number, withGit: boolean,
  setup: Record<string, number>, checks: string[], notes: string[]
): Promise<Comparison> {
  const source = join(data, 'source.store')
  const copy = join(data, 'copy.store')
  const count = set.files.length
  const bytes = set.bytes
  setup[`${label}: build the source store`] = await timed(async () => { await buildSource(source, set, large) })
  // LevelDB admits one process per store: the served source cannot also be opened by the local merge, so that one merges a byte copy.
  command('cp', ['-r', source, copy])
  notes.push(`${label}: the source store holds ${(await dirBytes(source) / MiB).toFixed(1)} MiB on disk for ${(bytes / MiB).toFixed(1)} MiB of snapshots`)
  const gitA = join(data, 'git-a')
  if (withGit) setup[`${label}: git fast-import`] = await timed(async () => { await gitImport(gitA, [set]) })
  const expectedIds = set.digests.map(blobIdString).sort()

  let dir = ''
  let dest: Store | undefined
  let result: MergeResult | undefined
  const listsEverything = async (who: string): Promise<void> => {
    const store = await openStore(join(dir, 'dest'))
    try {
      const listed: string[] = []
      for await (const id of listBlobIds(store, 'snapshot')) listed.push(id)
      listed.sort()
      check(listed.length === count && listed.every((id, i) => id === expectedIds[i]), `after ${who} the destination lists ${listed.length} snapshots, not the ${count} of the source`)
    } finally {
      await closeStore(store)
    }
  }
  const checkResult = (who: string): void => {
    check(result !== undefined && result.events === count && result.blobs === count && result.bytes === bytes,
      `${who} copied ${result?.events} events, ${result?.blobs} blobs, ${result?.bytes} bytes; expected ${count}, ${count}, ${bytes}`)
  }
  const freshDest = async (): Promise<void> => {
    dir = await tempDir(`sync-dest-${label}`)
    dest = await initStore(join(dir, 'dest'))
    result = undefined
  }

  const server = await startServer(source)
  progress(`${label}: serving ${source} at ${server.url}`)
  try {
    const contenders: Contender[] = [
      {
        name: 'pull: mergeStores(fresh dest, http://127.0.0.1 serve), closeStore',
        role: 'subject',
        note: 'the server is `snapstore serve SRC --port 0` in a child process; its CPU and memory are not in this row',
        setup: freshDest,
        run: async () => {
          result = await mergeStores(dest!, server.url)
          await closeStore(dest!)
        },
        teardown: async () => {
          checkResult('the pull')
          await listsEverything('the pull')
          await removeDir(dir)
        }
      },
      {
        name: 'local merge: mergeStores(fresh dest, byte copy of SRC), closeStore',
        role: 'reference',
        setup: freshDest,
        run: async () => {
          result = await mergeStores(dest!, copy)
          await closeStore(dest!)
        },
        teardown: async () => {
          checkResult('the local merge')
          await listsEverything('the local merge')
          await removeDir(dir)
        }
      }
    ]
    if (withGit) {
      contenders.push({
        name: 'git fetch file://A → empty bare B',
        role: 'reference',
        external: true,
        note: 'upload-pack + pack-objects in A, index-pack (inflate + SHA-1) in B',
        ...(QUICK ? {} : { maxRounds: 1 }),
        setup: async () => {
          dir = await tempDir(`sync-git-${label}`)
          command('git', ['init', '-q', '--bare', join(dir, 'b.git')])
        },
        run: async () => { command('git', ['--git-dir', join(dir, 'b.git'), 'fetch', '--quiet', `file://${gitA}`, 'refs/heads/*:refs/heads/*'], { measureRss: true }) },
        teardown: async () => {
          const got = gitBlobCount(join(dir, 'b.git'))
          check(got === count, `git fetch brought ${got} blobs, not ${count}`)
          await removeDir(dir)
        }
      })
    }
    checks.push(`${label}: every pull and local merge copies ${count} events, ${count} blobs and ${bytes} bytes, and the destination lists exactly the ${count} snapshot ids of the source's files (sha-256)`)
    if (withGit) checks.push(`${label}: git fetch brings all ${count} blobs into B`)
    const comparison = await compare(contenders, {
      title: `pull ${label} over loopback HTTP into a fresh store`,
      rounds: n,
      bytes,
      items: count,
      unit: 'MiB/s',
      warmup: true
    })
    const subject = comparison.measurements.find((m) => m.role === 'subject')!
    const local = comparison.measurements.find((m) => m.name.startsWith('local merge'))!
    comparison.target = {
      description: `${label}: network pull ≥ 70% of a local merge`,
      value: 0.7 * local.rate!,
      kind: 'min',
      actual: subject.rate!,
      met: subject.rate! >= 0.7 * local.rate!
    }
    notes.push(`${label}: pull ${formatNumber(subject.rate!)} MiB/s = ${(subject.rate! / local.rate! * 100).toFixed(0)}% of the local merge (${formatNumber(local.rate!)} MiB/s)`)
    return comparison
  } finally {
    await stopServer(server)
    await removeDir(data)
  }
}

/** Pull over loopback HTTP (`serve` + mergeStores(dest, URL)) of many small snapshots and of one large one, beside a local merge and git fetch. */
export async function syncScenario (): Promise<ScenarioResult> {
  const snapshots = knob('SYNC_SNAPSHOTS', 1000, 20)
  const kib = knob('SYNC_KIB', 64, 64, false)
  const bigMiB = knob('SYNC_BIG_MIB', 1024, 4)
  // Five rounds: a pull keeps both cores busy, so a shared machine's load moves it more than the local merge; the median of five holds better than of three.
  const n = rounds(5)
  const withGit = gitEnabled()
  const setup: Record<string, number> = {}
  const checks: string[] = []
  const notes: string[] = []
  const params = { snapshots, snapshotKiB: kib, bigMiB, rounds: n, git: withGit }
  if (!existsSync(CLI)) {
    return { scenario: 'sync', title: 'pull over loopback HTTP', params, setup, checks, comparisons: [], notes, skipped: `${CLI} does not exist (build src/cli first): the server is the CLI's serve` }
  }

  const comparisons: Comparison[] = []
  const small = await tempDir('sync-small')
  let set: InputSet | undefined
  setup[`write and hash ${snapshots} × ${kib} KiB random files`] = await timed(async () => { set = await makeInputs('small', join(small, 'files'), snapshots, kib * 1024) })
  comparisons.push(await syncPart(small, `${snapshots} × ${kib} KiB snapshots`, set!, false, n, withGit, setup, checks, notes))

  const big = await tempDir('sync-big')
  setup[`write and hash one ${bigMiB} MiB random file`] = await timed(async () => { set = await makeInputs('big', join(big, 'files'), 1, bigMiB * MiB) })
  comparisons.push(await syncPart(big, `one ${bigMiB} MiB snapshot`, set!, true, n, withGit, setup, checks, notes))

  if (!withGit) notes.push('git references skipped (SNAPSTORE_BENCH_GIT=0 or git missing)')
  else notes.push('git fetch runs one round outside quick mode (slow and steady); repository A is one pack written by git fast-import, so upload-pack reuses its compressed objects: git\'s fastest case')
  notes.push('the local merge reads a byte copy (cp -r) of the served store: LevelDB admits one process per store, and the server holds it while it answers')
  if (QUICK) notes.push('quick mode: sizes are tiny, figures are not meaningful')
  return { scenario: 'sync', title: 'pull over loopback HTTP beside a local merge and git fetch', params, setup, checks, comparisons, notes }
}

await runAsMain(import.meta.url, syncScenario)
