import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { LevelBlockstore } from 'blockstore-level'
import { ClassicLevel } from 'classic-level'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { addBlob, closeStore, digestHex, initStore, putFile } from '../src/index.ts'
import {
  CLI, QUICK, SNAPSTORE_LEVEL_OPTIONS, check, command, compare, dirBytes, gitEnabled, knob, makeInputs, progress, removeDir,
  rounds, runAsMain, tempDir, timed, values
} from './_lib.ts'
import type { Store } from '../src/index.ts'
import type { Comparison, Contender, InputSet, ScenarioResult } from './_lib.ts'

const MiB = 1024 * 1024
const RAW = 0x55
const SHA2_256 = 0x12

function sha256 (bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest()
}

/** The ingest rows for a set of files: snapstore, its CLI and putFile, beside sha-256, a copy with fsync, classic-level, blockstore-level and git. */
export async function ingestContenders (set: InputSet, whole: boolean, withGit: boolean, notes: string[]): Promise<Contender[]> {
  let dir = ''
  let store: Store | undefined
  let ids: string[] = []
  const checkIds = (who: string): void => {
    check(ids.length === set.files.length, `${who} returned ${ids.length} ids for ${set.files.length} files`)
    ids.forEach((hex, i) => check(hex === set.digests[i], `${who}: id of ${basename(set.files[i]!)} has digest ${hex}, sha-256 of the file is ${set.digests[i]!}`))
  }
  const freshStore = async (): Promise<void> => {
    dir = await tempDir('ingest')
    store = await initStore(join(dir, 'store'))
    ids = []
  }
  const contenders: Contender[] = [
    {
      name: "addBlob(store, 'snapshot', { path }) each, closeStore",
      role: 'subject',
      setup: freshStore,
      run: async () => {
        for (const path of set.files) ids.push(digestHex((await addBlob(store!, 'snapshot', { path })).id))
        await closeStore(store!)
      },
      teardown: async (round) => {
        checkIds('addBlob')
        if (round === 0) {
          const onDisk = await dirBytes(join(dir, 'store'))
          notes.push(`${set.label}: store on disk after closeStore ${(onDisk / MiB).toFixed(1)} MiB for ${(set.bytes / MiB).toFixed(1)} MiB of input (${(onDisk / set.bytes).toFixed(3)}×)`)
        }
        await removeDir(dir)
      }
    },
    {
      name: 'putFile each (bytes only, no event), closeStore',
      role: 'detail',
      setup: freshStore,
      run: async () => {
        for (const path of set.files) ids.push(digestHex((await putFile(store!, path)).id))
        await closeStore(store!)
      },
      teardown: async () => { checkIds('putFile'); await removeDir(dir) }
    }
  ]
  if (existsSync(CLI)) {
    let storePath = ''
    contenders.push({
      name: 'CLI: add snapshot STORE FILE… (1 process)',
      role: 'detail',
      external: true,
      setup: async () => {
        dir = await tempDir('ingest-cli')
        storePath = join(dir, 'store')
        command(CLI, ['init', storePath])
      },
      run: async () => {
        const out = command(CLI, ['add', 'snapshot', storePath, ...set.files], { measureRss: true })
        ids = out.stdout.toString().trim().split('\n').map((line) => digestHex(CID.parse(line)))
      },
      teardown: async () => { checkIds('snapstore add (CLI)'); await removeDir(dir) }
    })
  } else {
    notes.push(`${set.label}: CLI row skipped: ${CLI} does not exist (build src/cli first)`)
  }

  contenders.push({
    name: 'sha-256 (node:crypto): read + hash',
    role: 'reference',
    run: async () => {
      ids = []
      for (const path of set.files) {
        const hash = createHash('sha256')
        for await (const piece of values(path, whole)) hash.update(piece)
        ids.push(hash.digest('hex'))
      }
    },
    teardown: async () => { checkIds('sha-256') }
  })
  contenders.push({
    name: 'file copy: read, write, fsync each',
    role: 'reference',
    setup: async () => { dir = await tempDir('ingest-copy') },
    run: async () => {
      for (const path of set.files) {
        const out = await open(join(dir, basename(path)), 'w')
        try {
          for await (const piece of values(path, whole)) await out.write(piece)
          await out.sync()
        } finally {
          await out.close()
        }
      }
      const handle = await open(dir, 'r')
      await handle.sync()
      await handle.close()
    },
    teardown: async () => { await removeDir(dir) }
  })
  for (const [label, options] of [['defaults', {}], ["snapstore's options", SNAPSTORE_LEVEL_OPTIONS]] as const) {
    let db: ClassicLevel<string, Uint8Array> | undefined
    let puts = 0
    contenders.push({
      name: `classic-level ${label}: put per ${whole ? 'file' : 'MiB'}, close`,
      role: 'reference',
      setup: async () => {
        dir = await tempDir('ingest-level')
        db = new ClassicLevel<string, Uint8Array>(join(dir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'view', ...options })
        await db.open()
        puts = 0
      },
      run: async () => {
        for (const path of set.files) {
          for await (const value of values(path, whole)) {
            await db!.put(sha256(value).toString('hex'), value)
            puts++
          }
        }
        // One synced write makes everything before it durable, as snapstore's last batch does.
        await db!.put('done', new Uint8Array(0), { sync: true })
        await db!.close()
      },
      teardown: async () => {
        check(puts === (whole ? set.files.length : Math.ceil(set.bytes / MiB)), `classic-level stored ${puts} values`)
        await removeDir(dir)
      }
    })
  }
  let blockstore: LevelBlockstore | undefined
  let blocks = 0
  contenders.push({
    name: `blockstore-level: put per ${whole ? 'file' : 'MiB'}, close`,
    role: 'reference',
    note: 'deprecated package; no sync option',
    setup: async () => {
      dir = await tempDir('ingest-blockstore')
      blockstore = new LevelBlockstore(join(dir, 'db'))
      await blockstore.open()
      blocks = 0
    },
    run: async () => {
      for (const path of set.files) {
        for await (const value of values(path, whole)) {
          await blockstore!.put(CID.createV1(RAW, Digest.create(SHA2_256, sha256(value))), value)
          blocks++
        }
      }
      await blockstore!.close()
    },
    teardown: async () => {
      check(blocks === (whole ? set.files.length : Math.ceil(set.bytes / MiB)), `blockstore-level stored ${blocks} blocks`)
      await removeDir(dir)
    }
  })
  if (withGit) {
    let gitDir = ''
    contenders.push({
      name: 'git add -A',
      role: 'reference',
      external: true,
      note: 'SHA-1, zlib level 1 loose objects',
      // git on a large file is slow and steady; one round keeps the default run short.
      ...(whole ? {} : { maxRounds: 1 }),
      setup: async () => {
        gitDir = await tempDir('ingest-git')
        command('git', ['init', '-q', '--bare', gitDir])
      },
      run: async () => {
        command('git', ['--git-dir', gitDir, '--work-tree', set.dir, 'add', '-A'], { measureRss: true })
      },
      teardown: async () => {
        const listed = command('git', ['--git-dir', gitDir, 'ls-files', '-s']).stdout.toString().trim().split('\n')
        check(listed.length === set.files.length, `git add indexed ${listed.length} files`)
        await removeDir(gitDir)
      }
    })
  }
  return contenders
}

/** Ingest of many small files and of one large file into a fresh store, beside hashing, copying, LevelDB, blockstore-level and git. */
export async function ingestScenario (): Promise<ScenarioResult> {
  const smallCount = knob('SMALL_FILES', 1000, 50)
  const smallKiB = knob('SMALL_KIB', 64, 64, false)
  const bigMiB = knob('BIG_MIB', 256, 8)
  const n = rounds(3)
  const withGit = gitEnabled()
  const notes: string[] = []
  const setup: Record<string, number> = {}
  const data = await tempDir('ingest-data')
  let small: InputSet | undefined
  let big: InputSet | undefined
  setup['write and hash inputs'] = await timed(async () => {
    small = await makeInputs(`${smallCount} × ${smallKiB} KiB`, join(data, 'small'), smallCount, smallKiB * 1024)
    big = await makeInputs(`${bigMiB} MiB`, join(data, 'big'), 1, bigMiB * MiB)
  })
  progress(`inputs written in ${setup['write and hash inputs']!.toFixed(1)} s`)
  const comparisons: Comparison[] = []
  comparisons.push(await compare(await ingestContenders(small!, true, withGit, notes), {
    title: `ingest ${smallCount} × ${smallKiB} KiB random files`, rounds: n, bytes: small!.bytes, unit: 'MiB/s'
  }))
  comparisons.push(await compare(await ingestContenders(big!, false, withGit, notes), {
    title: `ingest one ${bigMiB} MiB random file`,
    rounds: n,
    bytes: big!.bytes,
    unit: 'MiB/s',
    target: { description: `${bigMiB} MiB ingest ≥ 150 MiB/s`, value: 150, kind: 'min' }
  }))
  await removeDir(data)
  if (!withGit) notes.push('git references skipped (SNAPSTORE_BENCH_GIT=0 or git missing)')
  notes.push('inputs were just written, so every contender reads them from the page cache')
  if (QUICK) notes.push('quick mode: sizes are tiny, figures are not meaningful')
  return {
    scenario: 'ingest',
    title: 'store files as snapshots through the library',
    params: { smallFiles: smallCount, smallKiB, bigMiB, rounds: n, git: withGit },
    setup,
    checks: [`every returned id (library${existsSync(CLI) ? ' and CLI' : ''}) has the sha-256 of its file as digest`, 'every reference stored the expected number of values'],
    comparisons,
    notes
  }
}

await runAsMain(import.meta.url, ingestScenario)
