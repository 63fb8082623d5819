import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { NODE_FLAGS } from '../src/cli/node-flags.ts'
import { appendEvents, closeStore, initStore, listBlobIds, openStore } from '../src/index.ts'
import { CLI, QUICK, check, command, compare, gitEnabled, knob, progress, removeDir, rounds, runAsMain, tempDir, timed } from './_lib.ts'
import { PUT_CONCURRENCY, putGenerated } from './_stores.ts'
import type { Comparison, Contender, ScenarioResult } from './_lib.ts'
import type { CID } from 'multiformats/cid'
import type { EventDraft } from '../src/index.ts'

const EVENT_BATCH = 10_000
// Given as the first argument, this file builds a store (path and count follow) and prints its ids and times as JSON.
const BUILD = '--build-store'

/** Setup figures of a snapshot store build: seconds for the blobs and for the events. */
export interface BuildTimes {
  putBlob: number
  appendEvents: number
}

/** Builds a store of `count` snapshots through the public API: putBlob of each, then blob.add in large appendEvents batches. */
export async function buildSnapshotStore (path: string, count: number): Promise<{ ids: string[], times: BuildTimes }> {
  const store = await initStore(path)
  let ids: CID[] = []
  const times: BuildTimes = { putBlob: 0, appendEvents: 0 }
  try {
    times.putBlob = await timed(async () => {
      ids = await putGenerated(store, count, (i) => `snapshot ${i}`)
    })
    progress(`putBlob × ${count}: ${times.putBlob.toFixed(1)} s`)
    times.appendEvents = await timed(async () => {
      for (let i = 0; i < count; i += EVENT_BATCH) {
        const drafts: EventDraft[] = ids.slice(i, i + EVENT_BATCH).map((blob, j) => ({ type: 'blob.add', body: { blob, kind: 'snapshot', size: Buffer.byteLength(`snapshot ${i + j}`) } }))
        await appendEvents(store, drafts)
      }
    })
    progress(`appendEvents × ${count}: ${times.appendEvents.toFixed(1)} s`)
  } finally {
    await closeStore(store)
  }
  return { ids: ids.map((id) => id.toString()), times }
}

/**
 * Builds the store in a child process, so that the process timing `ls` stays small: every spawn forks it, and
 * forking a process that built 100,000 snapshots (over 500 MiB resident) cost about 25 ms a spawn here.
 */
function buildInChild (path: string, count: number): { ids: string[], times: BuildTimes } {
  const args = [...NODE_FLAGS, fileURLToPath(import.meta.url), BUILD, path, String(count)]
  return JSON.parse(command(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] }).stdout.toString()) as { ids: string[], times: BuildTimes }
}

/** `ls snapshots` of a large store as a whole process, beside the library call, `ls -1` of as many files, and git listing as many objects. */
export async function lsScenario (): Promise<ScenarioResult> {
  const count = knob('LS_SNAPSHOTS', 100_000, 2_000)
  const n = rounds(5)
  const withGit = gitEnabled()
  const setup: Record<string, number> = {}
  const checks: string[] = []
  const notes: string[] = []
  const params = { snapshots: count, rounds: n, git: withGit }
  if (!existsSync(CLI)) {
    return { scenario: 'ls', title: 'ls snapshots on a large store', params, setup, checks, comparisons: [], notes, skipped: `${CLI} does not exist yet (the CLI is built from src/cli)` }
  }
  const dir = await tempDir('ls')
  const storePath = join(dir, 'store')
  progress(`building a store of ${count} snapshots`)
  const { ids, times } = buildInChild(storePath, count)
  setup[`putBlob × ${count} (${PUT_CONCURRENCY} in flight)`] = times.putBlob
  setup[`appendEvents blob.add × ${count} (batches of ${EVENT_BATCH})`] = times.appendEvents
  notes.push(`store built through the public API at ${Math.round(count / (times.putBlob + times.appendEvents))} snapshots/s: putBlob ${Math.round(count / times.putBlob)}/s, appendEvents ${Math.round(count / times.appendEvents)} events/s`)

  const library: string[] = []
  const store = await openStore(storePath)
  for await (const id of listBlobIds(store, 'snapshot')) library.push(id)
  await closeStore(store)
  check(library.length === count && library.every((id, i) => id === ids[i]), `listBlobIds gave ${library.length} ids, not the ${count} added, in order`)
  checks.push(`listBlobIds lists all ${count} snapshots in the order they were added`)

  const cliOut = command(CLI, ['ls', 'snapshots', storePath]).stdout.toString()
  const lines = cliOut.split('\n').slice(0, -1)
  check(lines.length === count && lines.every((line, i) => line === ids[i]), `snapstore ls snapshots printed ${lines.length} lines, not the ${count} ids in order`)
  checks.push(`snapstore ls snapshots prints all ${count} ids, one per line, in order of addition`)

  const filesDir = join(dir, 'files')
  setup[`create ${count} empty files`] = await timed(async () => {
    mkdirSync(filesDir)
    for (let i = 0; i < count; i++) closeSync(openSync(join(filesDir, `snapshot-${i}`), 'w'))
  })
  const gitDir = join(dir, 'git')
  if (withGit) {
    setup[`git fast-import ${count} blobs`] = await timed(async () => {
      command('git', ['init', '-q', '--bare', gitDir])
      const stream = Array.from({ length: count }, (_, i) => {
        const content = `snapshot ${i}`
        return `blob\ndata ${Buffer.byteLength(content)}\n${content}\n`
      }).join('')
      command('git', ['--git-dir', gitDir, 'fast-import', '--quiet'], { input: stream })
    })
  }

  const rssOnce = (file: string, args: string[]) => async (round: number): Promise<void> => {
    if (round === 0) command(file, args, { measureRss: true })
  }
  const lsArgs = ['ls', 'snapshots', storePath]
  // The processes' output is kept by run and counted by teardown, so each figure is the process alone, not the bench splitting 6 MB of text.
  let output: Buffer = Buffer.alloc(0)
  let listed = 0
  const lineCount = (text: Buffer): number => text.toString().split('\n').length - 1
  const contenders: Contender[] = [
    {
      name: 'snapstore ls snapshots STORE (stdout piped)',
      role: 'subject',
      external: true,
      run: async () => { output = command(CLI, lsArgs).stdout },
      teardown: async (round) => {
        listed = lineCount(output)
        check(listed === count, `ls snapshots printed ${listed} lines`)
        await rssOnce(CLI, lsArgs)(round)
      }
    },
    {
      name: 'in process: openStore + listBlobIds + closeStore',
      role: 'detail',
      run: async () => {
        const s = await openStore(storePath)
        listed = 0
        for await (const id of listBlobIds(s, 'snapshot')) listed += id.length > 0 ? 1 : 0
        await closeStore(s)
      },
      teardown: async () => { check(listed === count, `listBlobIds gave ${listed} ids`) }
    },
    {
      name: 'node -e 0 (Node start-up alone)',
      role: 'reference',
      external: true,
      run: async () => { command(process.execPath, ['-e', '0']) },
      teardown: rssOnce(process.execPath, ['-e', '0'])
    },
    {
      name: `ls -1 of a directory of ${count} empty files`,
      role: 'reference',
      external: true,
      run: async () => { output = command('ls', ['-1', filesDir]).stdout },
      teardown: async (round) => {
        listed = lineCount(output)
        check(listed === count, `ls -1 printed ${listed} lines`)
        await rssOnce('ls', ['-1', filesDir])(round)
      }
    }
  ]
  if (withGit) {
    const gitArgs = ['--git-dir', gitDir, 'cat-file', '--batch-all-objects', '--batch-check']
    contenders.push({
      name: `git cat-file --batch-all-objects --batch-check (${count} blobs)`,
      role: 'reference',
      external: true,
      run: async () => { output = command('git', gitArgs).stdout },
      teardown: async (round) => {
        listed = lineCount(output)
        check(listed === count, `git cat-file listed ${listed} objects`)
        await rssOnce('git', gitArgs)(round)
      }
    })
  }
  const comparisons: Comparison[] = [await compare(contenders, {
    title: `ls snapshots of a store of ${count} snapshots, whole process`,
    rounds: n,
    items: count,
    unit: 's',
    target: { description: `ls snapshots of ${count} < 0.5 s`, value: 0.5, kind: 'max' }
  })]
  await removeDir(dir)
  if (QUICK) notes.push('quick mode: sizes are tiny, figures are not meaningful')
  return { scenario: 'ls', title: 'ls snapshots on a large store', params, setup, checks, comparisons, notes }
}

if (process.argv[2] === BUILD && process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(JSON.stringify(await buildSnapshotStore(process.argv[3]!, Number(process.argv[4]))))
} else {
  await runAsMain(import.meta.url, lsScenario)
}
