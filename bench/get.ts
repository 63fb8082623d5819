import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { addBlob, closeStore, digestHex, initStore, openStore, readBlob } from '../src/index.ts'
import {
  CLI, QUICK, blobIdString, check, command, compare, gitEnabled, knob, makeInputs, progress, removeDir, rounds, runAsMain,
  sha256File, tempDir, timed, values
} from './_lib.ts'
import type { CID } from 'multiformats/cid'
import type { FileHandle } from 'node:fs/promises'
import type { Store } from '../src/index.ts'
import type { Comparison, Contender, InputSet, ScenarioResult } from './_lib.ts'

const MiB = 1024 * 1024

/** Everything the read-back contenders read from, built once before timing. */
interface Stored {
  set: InputSet
  /** Whole files (small set) or 1 MiB values (large file) in the naive LevelDB store. */
  whole: boolean
  storePath: string
  ids: CID[]
  levelPath: string
  /** Keys of the naive LevelDB store, per file, in order. */
  levelKeys: string[][]
  gitDir?: string
  /** Git blob names (SHA-1) per file. */
  gitNames?: string[]
}

async function build (set: InputSet, whole: boolean, dir: string, withGit: boolean, setup: Record<string, number>): Promise<Stored> {
  const storePath = join(dir, 'store')
  const ids: CID[] = []
  setup[`snapstore add ${set.label}`] = await timed(async () => {
    const store = await initStore(storePath)
    for (const path of set.files) ids.push((await addBlob(store, 'snapshot', { path })).id)
    await closeStore(store)
  })
  const levelPath = join(dir, 'level')
  const levelKeys: string[][] = []
  setup[`classic-level put ${set.label}`] = await timed(async () => {
    const db = new ClassicLevel<string, Uint8Array>(levelPath, { keyEncoding: 'utf8', valueEncoding: 'view' })
    for (const path of set.files) {
      const keys: string[] = []
      for await (const value of values(path, whole)) {
        const key = createHash('sha256').update(value).digest('hex')
        await db.put(key, value)
        keys.push(key)
      }
      levelKeys.push(keys)
    }
    await db.close()
  })
  const stored: Stored = { set, whole, storePath, ids, levelPath, levelKeys }
  if (withGit) {
    const gitDir = join(dir, 'git')
    setup[`git add ${set.label}`] = await timed(async () => {
      command('git', ['init', '-q', '--bare', gitDir])
      command('git', ['--git-dir', gitDir, '--work-tree', set.dir, 'add', '-A'])
    })
    const names = new Map<string, string>()
    for (const line of command('git', ['--git-dir', gitDir, 'ls-files', '-s']).stdout.toString().trim().split('\n')) {
      const [, name = '', , path = ''] = line.split(/\s+/)
      names.set(path, name)
    }
    stored.gitDir = gitDir
    stored.gitNames = set.files.map((file) => names.get(basename(file))!)
  }
  return stored
}

/** Checks, before any timing, that readBlob yields exactly the input bytes, and that the CLI's `get` does too. */
async function checkReadBack (s: Stored, dir: string, checks: string[]): Promise<void> {
  const store = await openStore(s.storePath)
  try {
    for (let i = 0; i < s.ids.length; i++) {
      const out = join(dir, 'check.out')
      const handle = await open(out, 'w')
      try {
        for await (const bytes of readBlob(store, s.ids[i]!)) await handle.write(bytes)
      } finally {
        await handle.close()
      }
      const digest = await sha256File(out)
      check(digest === s.set.digests[i], `readBlob of ${basename(s.set.files[i]!)} wrote bytes with sha-256 ${digest}, the input has ${s.set.digests[i]!}`)
      check(digestHex(s.ids[i]!) === digest, `id ${s.ids[i]!.toString()} does not name the bytes read back`)
    }
  } finally {
    await closeStore(store)
  }
  checks.push(`${s.set.label}: readBlob wrote exactly the input bytes (sha-256 of the output file = sha-256 of the input)`)
  if (existsSync(CLI) && !s.whole) {
    const out = join(dir, 'check-cli.out')
    command(CLI, ['get', 'snapshot', s.storePath, s.ids[0]!.toString(), '-o', out])
    check(await sha256File(out) === s.set.digests[0], 'snapstore get -o FILE wrote other bytes than the input')
    checks.push(`${s.set.label}: CLI get -o FILE wrote exactly the input bytes`)
  }
}

async function getContenders (s: Stored, sink: FileHandle, devNull: number): Promise<Contender[]> {
  let store: Store | undefined
  let written = 0
  const expectAll = (who: string): void => check(written === s.set.bytes, `${who} produced ${written} bytes, expected ${s.set.bytes}`)
  const contenders: Contender[] = [
    {
      name: 'readBlob → /dev/null (verified per chunk and whole)',
      role: 'subject',
      setup: async () => { store = await openStore(s.storePath); written = 0 },
      run: async () => {
        for (const id of s.ids) {
          for await (const bytes of readBlob(store!, id)) {
            await sink.write(bytes)
            written += bytes.length
          }
        }
      },
      teardown: async () => { await closeStore(store!); expectAll('readBlob') }
    }
  ]
  if (existsSync(CLI) && !s.whole) {
    contenders.push({
      name: 'CLI: get snapshot STORE ID > /dev/null (1 process)',
      role: 'detail',
      external: true,
      run: async () => {
        command(CLI, ['get', 'snapshot', s.storePath, s.ids[0]!.toString()], { stdio: ['ignore', devNull, 'pipe'], measureRss: true })
      }
    })
  }
  contenders.push({
    name: 'sha-256 of the file (node:crypto): read + hash',
    role: 'reference',
    run: async () => {
      written = 0
      for (const path of s.set.files) {
        const hash = createHash('sha256')
        for await (const piece of values(path, s.whole)) {
          hash.update(piece)
          written += piece.length
        }
        hash.digest()
      }
    },
    teardown: async () => { expectAll('sha-256') }
  })
  contenders.push({
    name: 'file read → /dev/null',
    role: 'reference',
    run: async () => {
      written = 0
      for (const path of s.set.files) {
        for await (const piece of values(path, s.whole)) {
          await sink.write(piece)
          written += piece.length
        }
      }
    },
    teardown: async () => { expectAll('file read') }
  })
  for (const verify of [false, true]) {
    let db: ClassicLevel<string, Uint8Array> | undefined
    contenders.push({
      name: `classic-level get per ${s.whole ? 'file' : 'MiB'}${verify ? ' + sha-256 check' : ''} → /dev/null`,
      role: 'reference',
      setup: async () => {
        db = new ClassicLevel<string, Uint8Array>(s.levelPath, { keyEncoding: 'utf8', valueEncoding: 'view' })
        await db.open()
        written = 0
      },
      run: async () => {
        for (const keys of s.levelKeys) {
          for (const key of keys) {
            const value = await db!.get(key)
            if (value === undefined) throw new Error(`classic-level lost ${key}`)
            if (verify && createHash('sha256').update(value).digest('hex') !== key) throw new Error(`classic-level value of ${key} does not match`)
            await sink.write(value)
            written += value.length
          }
        }
      },
      teardown: async () => { await db!.close(); expectAll('classic-level get') }
    })
  }
  if (s.gitDir !== undefined && s.gitNames !== undefined) {
    const gitDir = s.gitDir
    const names = s.gitNames
    contenders.push({
      name: s.whole ? 'git cat-file --batch → /dev/null (1 process)' : 'git cat-file blob → /dev/null',
      role: 'reference',
      external: true,
      note: 'git does not re-hash what it reads',
      run: async () => {
        if (s.whole) {
          command('git', ['--git-dir', gitDir, 'cat-file', '--batch'], { input: names.join('\n') + '\n', stdio: ['pipe', devNull, 'pipe'], measureRss: true })
        } else {
          for (const name of names) command('git', ['--git-dir', gitDir, 'cat-file', 'blob', name], { stdio: ['ignore', devNull, 'pipe'], measureRss: true })
        }
      }
    })
  }
  return contenders
}

/** Reading blobs back (streamed and verified) beside hashing, plain reads, LevelDB gets and git. */
export async function getScenario (): Promise<ScenarioResult> {
  const smallCount = knob('SMALL_FILES', 1000, 50)
  const smallKiB = knob('SMALL_KIB', 64, 64, false)
  const bigMiB = knob('BIG_MIB', 256, 8)
  const n = rounds(3)
  const withGit = gitEnabled()
  const setup: Record<string, number> = {}
  const checks: string[] = []
  const notes: string[] = []
  const dir = await tempDir('get')
  let small: InputSet | undefined
  let big: InputSet | undefined
  setup['write and hash inputs'] = await timed(async () => {
    small = await makeInputs(`${smallCount} × ${smallKiB} KiB`, join(dir, 'small-files'), smallCount, smallKiB * 1024)
    big = await makeInputs(`${bigMiB} MiB`, join(dir, 'big-file'), 1, bigMiB * MiB)
  })
  progress('building the stores to read from')
  const smallStored = await build(small!, true, join(dir, 'small'), withGit, setup)
  const bigStored = await build(big!, false, join(dir, 'big'), withGit, setup)
  check(bigStored.ids[0]!.toString() === blobIdString(big!.digests[0]!), 'the large blob id is not the CID of its sha-256')
  await checkReadBack(smallStored, dir, checks)
  await checkReadBack(bigStored, dir, checks)
  const sink = await open('/dev/null', 'w')
  const comparisons: Comparison[] = []
  try {
    comparisons.push(await compare(await getContenders(smallStored, sink, sink.fd), {
      title: `read back ${smallCount} × ${smallKiB} KiB blobs`, rounds: n, bytes: small!.bytes, unit: 'MiB/s'
    }))
    comparisons.push(await compare(await getContenders(bigStored, sink, sink.fd), {
      title: `read back one ${bigMiB} MiB blob`, rounds: n, bytes: big!.bytes, unit: 'MiB/s'
    }))
  } finally {
    await sink.close()
  }
  await removeDir(dir)
  notes.push('everything read was just written: reads come from the page cache, for every contender alike')
  if (!withGit) notes.push('git references skipped (SNAPSTORE_BENCH_GIT=0 or git missing)')
  if (QUICK) notes.push('quick mode: sizes are tiny, figures are not meaningful')
  return {
    scenario: 'get',
    title: 'read blobs back, streamed and verified',
    params: { smallFiles: smallCount, smallKiB, bigMiB, rounds: n, git: withGit },
    setup,
    checks: [...checks, 'every timed contender produced exactly the input size in bytes'],
    comparisons,
    notes
  }
}

await runAsMain(import.meta.url, getScenario)
