import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { open, readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import {
  appendEvents, closeStore, initStore, listBlobIds, listHeads, mergeStores, openStore, readEventAt, verifyStore
} from '../src/index.ts'
import {
  CLI, QUICK, SNAPSTORE_LEVEL_OPTIONS, blobIdString, check, command, compare, dirBytes, formatNumber, formatSeconds, gitEnabled, knob,
  makeInputs, progress, removeDir, rounds, runAsMain, tempDir, timed
} from './_lib.ts'
import { buildSnapshotStore, gitAddCommits, gitBlobCount, gitImport, putGenerated } from './_stores.ts'
import type { CID } from 'multiformats/cid'
import type { Comparison, Contender, InputSet, ScenarioResult } from './_lib.ts'
import type { EventDraft, MergeResult, Store } from '../src/index.ts'

const MiB = 1024 * 1024
const EVENT_BATCH = 10_000
const COPY_BATCH_BYTES = 8 * MiB

/** The wepy orchestrator's figures from ../shared/DESIGN.md section 6: quoted, not measured here. */
const WEPY = 'for comparison, not measured here (DESIGN.md §6, this kind of machine): the wepy orchestrator reconciles 500 new 64 KiB snapshots (31 MiB) in 1.5–2.2 s (≈ 14–21 MiB/s, 230–330 snapshots/s) and takes 1.1–1.3 s for a reconcile with nothing new, both growing quadratically with store size'

/** Builds a store of `count` tag.set events (each a new tag name) over `blobs` tiny blobs, in batches of 10,000 without sync. */
async function buildEventSource (path: string, count: number, blobs: number, setup: Record<string, number>): Promise<void> {
  const store = await initStore(path)
  try {
    let targets: CID[] = []
    setup[`putBlob × ${blobs} tiny blobs`] = await timed(async () => { targets = await putGenerated(store, blobs, (i) => `target ${i}`) })
    const seconds = await timed(async () => {
      for (let i = 0; i < count; i += EVENT_BATCH) {
        const drafts: EventDraft[] = []
        for (let j = i; j < Math.min(count, i + EVENT_BATCH); j++) drafts.push({ type: 'tag.set', body: { name: `tag-${j}`, target: targets[j % blobs]! } })
        await appendEvents(store, drafts, { sync: i + EVENT_BATCH >= count })
        if ((i / EVENT_BATCH) % 20 === 19) progress(`appendEvents: ${i + EVENT_BATCH} of ${count} events`)
      }
    })
    setup[`appendEvents tag.set × ${count} (batches of ${EVENT_BATCH}, { sync: false })`] = seconds
    progress(`built the ${count}-event source: appendEvents at ${formatNumber(count / seconds)} events/s`)
  } finally {
    await closeStore(store)
  }
}

/**
 * Copies every key and value of some closed LevelDB databases into a fresh one, in batches of about 8 MiB,
 * the last write synced: what a merge writes, without checking or computing anything. Returns the entries copied.
 */
async function rawLevelCopy (sources: readonly string[], destDir: string): Promise<number> {
  const dest = new ClassicLevel<Buffer, Uint8Array>(destDir, { keyEncoding: 'buffer', valueEncoding: 'view', ...SNAPSTORE_LEVEL_OPTIONS })
  await dest.open()
  let entries = 0
  try {
    for (const source of sources) {
      const db = new ClassicLevel<Buffer, Uint8Array>(source, { keyEncoding: 'buffer', valueEncoding: 'view', ...SNAPSTORE_LEVEL_OPTIONS, createIfMissing: false })
      await db.open()
      try {
        const iterator = db.iterator()
        let batch = dest.batch()
        let bytes = 0
        for (;;) {
          const page = await iterator.nextv(1000)
          if (page.length === 0) break
          for (const [key, value] of page) {
            batch.put(key, value)
            bytes += key.length + value.length
            entries++
          }
          if (bytes >= COPY_BATCH_BYTES) {
            await batch.write()
            batch = dest.batch()
            bytes = 0
          }
        }
        await iterator.close()
        await batch.write()
      } finally {
        await db.close()
      }
    }
    await dest.put(Buffer.from('done'), new Uint8Array(0), { sync: true })
  } finally {
    await dest.close()
  }
  return entries
}

/** Copies every pack file of the stores into one file in 4 MiB reads and writes, then fsyncs it; returns the bytes copied. */
async function copyPacksDurably (stores: readonly string[], destFile: string): Promise<number> {
  const out = await open(destFile, 'w')
  const buffer = Buffer.allocUnsafe(4 * MiB)
  let copied = 0
  try {
    for (const store of stores) {
      for (const name of (await readdir(join(store, 'packs'))).sort()) {
        const input = await open(join(store, 'packs', name), 'r')
        try {
          for (;;) {
            const { bytesRead } = await input.read(buffer, 0, buffer.length, null)
            if (bytesRead === 0) break
            await out.write(buffer, 0, bytesRead)
            copied += bytesRead
          }
        } finally {
          await input.close()
        }
      }
    }
    await out.datasync()
  } finally {
    await out.close()
  }
  return copied
}

/** Number of entries in closed LevelDB databases, for checking the raw copy. */
async function countEntries (paths: readonly string[]): Promise<number> {
  let total = 0
  for (const path of paths) {
    const db = new ClassicLevel<Buffer, Uint8Array>(path, { keyEncoding: 'buffer', valueEncoding: 'view', createIfMissing: false })
    await db.open()
    const iterator = db.keys()
    for (;;) {
      const keys = await iterator.nextv(4096)
      if (keys.length === 0) break
      total += keys.length
    }
    await iterator.close()
    await db.close()
  }
  return total
}

/** The CLI's line for one merged source. */
function mergedLine (events: number, blobs: number, bytes: number, source: string): string {
  return `merged ${events} events, ${blobs} blobs (${bytes} bytes) from ${source}`
}

/** Fails unless merges of `sources` copied `events` events, `blobs` blobs and `bytes` bytes in all. */
function checkTotals (who: string, results: readonly MergeResult[], events: number, blobs: number, bytes: number): void {
  const sum = (pick: (r: MergeResult) => number): number => results.reduce((total, r) => total + pick(r), 0)
  check(sum((r) => r.events) === events && sum((r) => r.blobs) === blobs && sum((r) => r.bytes) === bytes,
    `${who} merged ${sum((r) => r.events)} events, ${sum((r) => r.blobs)} blobs, ${sum((r) => r.bytes)} bytes; expected ${events}, ${blobs}, ${bytes}`)
}

const GIT_FETCH_ADDED = 'git fetch A → empty bare B, A made with git add + git commit (loose objects)'
const GIT_FETCH_WHOLE = 'git fetch A → empty bare B, A\'s blobs packed whole (git fast-import)'

/**
 * `git fetch` of every branch of the repository `from` into a fresh bare repository (one round outside quick
 * mode), checked to bring `total` blobs; the last pair is handed to `keep` instead of removed.
 */
function gitFetchContender (name: string, from: string, total: number, note: string, keep?: (pair: { a: string, b: string }) => void): Contender {
  let into = ''
  let kept: string | undefined
  return {
    name,
    role: 'reference',
    external: true,
    note,
    ...(QUICK ? {} : { maxRounds: 1 }),
    setup: async () => {
      into = await tempDir('merge-git-b')
      command('git', ['init', '-q', '--bare', into])
    },
    run: async () => { command('git', ['--git-dir', into, 'fetch', '--quiet', from, 'refs/heads/*:refs/heads/*'], { measureRss: true }) },
    teardown: async () => {
      check(gitBlobCount(into) === total, `git fetch brought ${gitBlobCount(into)} blobs, not ${total}`)
      if (keep === undefined) {
        await removeDir(into)
        return
      }
      if (kept !== undefined) await removeDir(kept)
      kept = into
      keep({ a: from, b: into })
    }
  }
}

/** Part 1: many stores of 64 KiB snapshots merged one after another into a fresh store, beside git fetch and plain copies of the same bytes. */
async function snapshotMerge (
  storeCount: number, perStore: number, kib: number, n: number, withGit: boolean,
  setup: Record<string, number>, checks: string[], notes: string[]
): Promise<{ comparison: Comparison, gitPair?: { a: string, b: string } }> {
  const data = await tempDir('merge-snapshots')
  const sets: InputSet[] = []
  const total = storeCount * perStore
  const bytes = total * kib * 1024
  setup[`write and hash ${total} × ${kib} KiB random files`] = await timed(async () => {
    for (let s = 0; s < storeCount; s++) sets.push(await makeInputs(`store ${s}`, join(data, 'files', `store-${s}`), perStore, kib * 1024))
  })
  const sources = sets.map((_, s) => join(data, 'sources', `s${s}.store`))
  setup[`build ${storeCount} source stores (putBlob + appendEvents)`] = await timed(async () => {
    for (const [s, set] of sets.entries()) await buildSnapshotStore(sources[s]!, set)
  })
  progress(`built ${storeCount} source stores of ${perStore} snapshots in ${setup[`build ${storeCount} source stores (putBlob + appendEvents)`]!.toFixed(1)} s`)
  const expectedIds = sets.flatMap((set) => set.digests.map(blobIdString)).sort()
  const sourceBytes = await Promise.all(sources.map(async (source) => await dirBytes(source)))
  notes.push(`${storeCount} source stores hold ${(sourceBytes.reduce((a, b) => a + b, 0) / MiB).toFixed(1)} MiB on disk for ${(bytes / MiB).toFixed(1)} MiB of snapshots`)

  // Two git repositories of the same files: one made as users make them (git add, git commit), the
  // reference of the target; one made by fast-import with every blob stored whole, git's best case.
  let gitA = ''
  let gitAdded = ''
  if (withGit) {
    gitAdded = join(data, 'git-added')
    const added = `git add + git commit ${total} files (${storeCount} commits)`
    setup[added] = await timed(async () => { gitAddCommits(gitAdded, join(data, 'files'), sets) })
    check(gitBlobCount(gitAdded) === total, `git add stored ${gitBlobCount(gitAdded)} blobs, not ${total}`)
    progress(`${added} in ${setup[added]!.toFixed(1)} s`)
    gitA = join(data, 'git-a')
    const imported = `git fast-import ${total} files (${storeCount} commits)`
    setup[imported] = await timed(async () => { await gitImport(gitA, sets) })
    check(gitBlobCount(gitA) === total, `git fast-import stored ${gitBlobCount(gitA)} blobs, not ${total}`)
    progress(`${imported} in ${setup[imported]!.toFixed(1)} s`)
  }

  let dir = ''
  let dest: Store | undefined
  let results: MergeResult[] = []
  const listsEverything = async (path: string, who: string, verify: boolean): Promise<void> => {
    const store = await openStore(path)
    try {
      const listed: string[] = []
      for await (const id of listBlobIds(store, 'snapshot')) listed.push(id)
      listed.sort()
      check(listed.length === total && listed.every((id, i) => id === expectedIds[i]), `after ${who} the destination lists ${listed.length} snapshots, not the ${total} of the sources`)
      if (verify) {
        const report = await verifyStore(store)
        check(report.ok && report.events === total && report.blobs === total, `verifyStore after ${who}: ${report.problems.slice(0, 3).join('; ') || `${report.events} events, ${report.blobs} blobs`}`)
      }
    } finally {
      await closeStore(store)
    }
  }
  const contenders: Contender[] = [
    {
      name: `mergeStores(dest, SRC) × ${storeCount} in turn, closeStore`,
      role: 'subject',
      setup: async () => {
        dir = await tempDir('merge-dest')
        dest = await initStore(join(dir, 'dest'))
        results = []
      },
      run: async () => {
        for (const source of sources) results.push(await mergeStores(dest!, source))
        await closeStore(dest!)
      },
      teardown: async (round) => {
        checkTotals('mergeStores', results, total, total, bytes)
        await listsEverything(join(dir, 'dest'), 'mergeStores', round === 0)
        if (round === 0) {
          const onDisk = await dirBytes(join(dir, 'dest'))
          notes.push(`destination on disk after the merges: ${(onDisk / MiB).toFixed(1)} MiB for ${(bytes / MiB).toFixed(1)} MiB of snapshots`)
        }
        await removeDir(dir)
      }
    }
  ]
  if (existsSync(CLI)) {
    let out = ''
    contenders.push({
      name: `CLI: merge DEST SRC×${storeCount} (1 process)`,
      role: 'detail',
      external: true,
      // As slow as the library row and steady; one round keeps the default run under about 8 minutes.
      ...(QUICK ? {} : { maxRounds: 1 }),
      setup: async () => {
        dir = await tempDir('merge-cli')
        command(CLI, ['init', join(dir, 'dest')])
      },
      run: async () => { out = command(CLI, ['merge', join(dir, 'dest'), ...sources], { measureRss: true }).stdout.toString() },
      teardown: async () => {
        const expected = sources.map((source) => mergedLine(perStore, perStore, perStore * kib * 1024, source)).join('\n') + '\n'
        check(out === expected, `snapstore merge printed ${JSON.stringify(out.slice(0, 300))}`)
        await listsEverything(join(dir, 'dest'), 'snapstore merge (CLI)', false)
        await removeDir(dir)
      }
    })
  } else {
    notes.push(`CLI row skipped: ${CLI} does not exist (build src/cli first)`)
  }
  let gitPair: { a: string, b: string } | undefined
  if (withGit) {
    contenders.push(gitFetchContender(`${GIT_FETCH_ADDED} (local path)`, gitAdded, total,
      'A as users make it: loose objects, which pack-objects in A compresses and searches for deltas; index-pack (inflate + SHA-1) in B'))
    contenders.push(gitFetchContender(`${GIT_FETCH_WHOLE} (local path)`, gitA, total,
      'git\'s best case: A\'s blobs are packed whole by fast-import, and pack-objects sends them as they are (no compression, no delta search); index-pack (inflate + SHA-1) in B',
      // The last one is kept for the no-op fetch reference below.
      (pair) => { gitPair = pair }))
  }
  contenders.push({
    name: `cp -r of the ${total} files (no fsync)`,
    role: 'reference',
    external: true,
    setup: async () => { dir = await tempDir('merge-cp') },
    run: async () => { command('cp', ['-r', join(data, 'files'), join(dir, 'copy')], { measureRss: true }) },
    teardown: async () => {
      const copied = await dirBytes(join(dir, 'copy'))
      check(copied === bytes, `cp -r copied ${copied} bytes, not ${bytes}`)
      await removeDir(dir)
    }
  })
  let packBytes = 0
  contenders.push({
    name: `the ${storeCount} sources' pack files copied into one file, fsync`,
    role: 'reference',
    note: 'the disk floor: the chunk bytes a merge must make durable, with nothing read from LevelDB, checked or hashed',
    setup: async () => { dir = await tempDir('merge-packs') },
    run: async () => { packBytes = await copyPacksDurably(sources, join(dir, 'all.pack')) },
    teardown: async () => {
      check(packBytes >= bytes, `the pack copy wrote ${packBytes} bytes, fewer than the ${bytes} of the snapshots`)
      await removeDir(dir)
    }
  })
  let snapshots: Buffer[] = []
  let hashed = 0
  contenders.push({
    name: `sha-256 (node:crypto) of the ${total} snapshots, in memory, one thread`,
    role: 'reference',
    note: 'the hashing floor: what checking every byte once costs on one core, with no reading or writing',
    setup: async () => { snapshots = await Promise.all(sets.flatMap((set) => set.files).map(async (file) => await readFile(file))) },
    run: async () => {
      hashed = 0
      for (const snapshot of snapshots) hashed += createHash('sha256').update(snapshot).digest().length
    },
    teardown: async () => {
      check(hashed === 32 * total, `hashed ${hashed / 32} snapshots, not ${total}`)
      snapshots = []
    }
  })
  let entries = 0
  const expectedEntries = await countEntries(sources.map((source) => join(source, 'db')))
  contenders.push({
    name: `classic-level: every key/value of the ${storeCount} source DBs → one fresh DB (8 MiB batches, last synced), close`,
    role: 'reference',
    note: 'what the merge writes, with no check, no hashing, no projection',
    setup: async () => { dir = await tempDir('merge-level') },
    run: async () => { entries = await rawLevelCopy(sources.map((source) => join(source, 'db')), join(dir, 'db')) },
    teardown: async () => {
      check(entries === expectedEntries, `the raw copy wrote ${entries} entries, the sources hold ${expectedEntries}`)
      await removeDir(dir)
    }
  })
  checks.push(`every round's mergeStores results add up to ${total} events, ${total} blobs and ${bytes} bytes, and the destination lists exactly the ${total} snapshot ids of the sources' files (sha-256)`)
  checks.push('verifyStore of the merged destination is ok (first round)')
  if (existsSync(CLI)) checks.push(`the CLI prints "merged ${perStore} events, ${perStore} blobs (${perStore * kib * 1024} bytes) from SRC" per source and its destination lists the same ${total} snapshots`)
  if (withGit) checks.push(`git fetch brings all ${total} blobs into B`)
  checks.push('cp -r copies every byte; the raw LevelDB copy writes every entry of the sources')

  const comparison = await compare(contenders, {
    title: `merge ${storeCount} stores of ${perStore} × ${kib} KiB random snapshots into a fresh store`,
    rounds: n,
    bytes,
    items: total,
    unit: 'MiB/s'
  })
  const subject = comparison.measurements.find((m) => m.role === 'subject')!
  notes.push(`snapshot merge as events: ${total} blob.add events with their ${kib} KiB blobs at ${formatNumber(total / subject.seconds)} events/s`)
  const git = comparison.measurements.find((m) => m.name.startsWith(GIT_FETCH_ADDED))
  const gitBest = comparison.measurements.find((m) => m.name.startsWith(GIT_FETCH_WHOLE))
  if (git !== undefined && gitBest !== undefined) {
    const met = subject.rate! >= 10 * git.rate!
    comparison.target = { description: 'snapshot merge ≥ 10× git fetch of the same bytes (from a repository made with git add + git commit)', value: 10 * git.rate!, kind: 'min', actual: subject.rate!, met }
    const floor = comparison.measurements.find((m) => m.name.includes('pack files copied'))!
    notes.push(`10× git fetch is ${formatNumber(10 * git.rate!)} MiB/s here; the merge runs at ${(subject.rate! / git.rate!).toFixed(1)}× git fetch from a repository made with git add, ${(subject.rate! / gitBest.rate!).toFixed(1)}× git fetch at its best (blobs already packed whole); writing the same chunk bytes durably, with nothing checked, runs at ${formatNumber(floor.rate!)} MiB/s in this run`)
  }
  await removeDir(join(data, 'files'))
  return gitPair === undefined ? { comparison } : { comparison, gitPair }
}

/** Parts 2 and 3: a store of many events merged into a fresh store (events/s), then merged again with nothing to copy (latency). */
async function eventMerge (
  count: number, blobs: number, n: number, noopRounds: number, gitPair: { a: string, b: string } | undefined,
  setup: Record<string, number>, checks: string[], notes: string[]
): Promise<Comparison[]> {
  const data = await tempDir('merge-events')
  const source = join(data, 'source.store')
  progress(`building a store of ${count} tag.set events over ${blobs} blobs`)
  await buildEventSource(source, count, blobs, setup)
  // LevelDB replays its write-ahead log into a table on the first open after a large write: paid once here, not by a figure.
  setup['first reopen of the source (LevelDB log replay)'] = await timed(async () => { await closeStore(await openStore(source)) })
  const sourceStore = await openStore(source)
  const [sourceHead] = await listHeads(sourceStore)
  await closeStore(sourceStore)
  check(sourceHead !== undefined && sourceHead.seq === count, `the source's head is at seq ${sourceHead?.seq}, not ${count}`)
  const expectedEntries = await countEntries([join(source, 'db')])

  let dir = ''
  let dest: Store | undefined
  let result: MergeResult | undefined
  let noopDest = ''
  let entries = 0
  const fullContenders: Contender[] = [
    {
      name: 'mergeStores(fresh dest, SRC), closeStore',
      role: 'subject',
      setup: async () => {
        dir = await tempDir('merge-events-dest')
        dest = await initStore(join(dir, 'dest'))
      },
      run: async () => {
        result = await mergeStores(dest!, source)
        await closeStore(dest!)
      },
      teardown: async (round) => {
        check(result !== undefined && result.events === count && result.blobs === blobs, `mergeStores copied ${result?.events} events and ${result?.blobs} blobs, not ${count} and ${blobs}`)
        const store = await openStore(join(dir, 'dest'))
        try {
          const head = (await listHeads(store)).find((h) => h.origin === sourceHead.origin)
          check(head !== undefined && head.seq === count && head.head.equals(sourceHead.head), 'the destination\'s head of the source origin is not the source\'s head')
          for (const seq of [1, Math.ceil(count / 2), count]) {
            const at = await readEventAt(store, sourceHead.origin, seq)
            check(at !== undefined && at.event.type === 'tag.set' && at.event.body.name === `tag-${seq - 1}`, `event ${seq} of the destination is not tag-${seq - 1}`)
          }
          if (round === 0 && (QUICK || count <= 100_000 || process.env['SNAPSTORE_BENCH_MERGE_VERIFY'] === '1')) {
            const report = await verifyStore(store)
            check(report.ok && report.events === count, `verifyStore after the merge: ${report.problems.slice(0, 3).join('; ')}`)
            checks.push(`verifyStore of the ${count}-event destination is ok`)
          }
        } finally {
          await closeStore(store)
        }
        // The first destination is kept for the no-op merges.
        if (noopDest === '') noopDest = join(dir, 'dest')
        else await removeDir(dir)
      }
    },
    {
      name: 'classic-level: every key/value of the source DB → a fresh DB (8 MiB batches, last synced), close',
      role: 'reference',
      note: 'the bytes a merge writes, without checks, hashing or projections',
      setup: async () => { dir = await tempDir('merge-events-level') },
      run: async () => { entries = await rawLevelCopy([join(source, 'db')], join(dir, 'db')) },
      teardown: async () => {
        check(entries === expectedEntries, `the raw copy wrote ${entries} entries, the source holds ${expectedEntries}`)
        await removeDir(dir)
      }
    }
  ]
  checks.push(`mergeStores of the ${count}-event store into a fresh store copies ${count} events and ${blobs} blobs; the destination's head for the source origin is the source's head, and events 1, ${Math.ceil(count / 2)} and ${count} are the expected tag.set`)
  const full = await compare(fullContenders, {
    title: `merge a store of ${count} tag.set events (and ${blobs} tiny blobs) into a fresh store`,
    rounds: n,
    items: count,
    unit: 'events/s',
    target: { description: 'merge ≥ 50,000 events/s', value: 50_000, kind: 'min' },
    // The snapshot merge before it in this process read hundreds of MiB of inputs.
    collectFirst: true
  })

  // The no-op merges: the destination holds everything the source has.
  setup['first reopen of the merged destination (LevelDB log replay)'] = await timed(async () => { await closeStore(await openStore(noopDest)) })
  const noop = (r: MergeResult | undefined): boolean => r !== undefined && r.events === 0 && r.blobs === 0 && r.bytes === 0
  const library: Contender[] = [
    {
      name: `mergeStores(dest, SRC), nothing to copy, dest open (${count} events)`,
      role: 'subject',
      setup: async () => { dest = await openStore(noopDest) },
      run: async () => { result = await mergeStores(dest!, source) },
      teardown: async () => {
        await closeStore(dest!)
        check(noop(result), `the no-op merge copied ${result?.events} events, ${result?.blobs} blobs`)
      }
    },
    {
      name: 'openStore(dest) + mergeStores + closeStore',
      role: 'detail',
      run: async () => {
        const store = await openStore(noopDest)
        try {
          result = await mergeStores(store, source)
        } finally {
          await closeStore(store)
        }
      },
      teardown: async () => { check(noop(result), 'the no-op merge copied something') }
    },
    {
      name: 'openStore(dest) + openStore(SRC) + closeStore × 2 alone',
      role: 'detail',
      run: async () => {
        const a = await openStore(noopDest)
        const b = await openStore(source)
        await closeStore(b)
        await closeStore(a)
      }
    }
  ]
  checks.push('every no-op merge (library and CLI) reports 0 events, 0 blobs, 0 bytes')
  const libraryComparison = await compare(library, {
    title: `no-op merge into a store of ${count} events (the source already merged), library call`,
    rounds: noopRounds,
    unit: 's',
    target: { description: `no-op mergeStores on ${count} events < 100 ms`, value: 0.1, kind: 'max' }
  })

  const comparisons = [full, libraryComparison]
  if (existsSync(CLI)) {
    let out = ''
    const cli: Contender[] = [
      {
        name: 'snapstore merge DEST SRC (nothing to copy)',
        role: 'subject',
        external: true,
        run: async () => { out = command(CLI, ['merge', noopDest, source]).stdout.toString() },
        teardown: async (round) => {
          check(out === mergedLine(0, 0, 0, source) + '\n', `snapstore merge printed ${JSON.stringify(out)}`)
          if (round === 0) command(CLI, ['merge', noopDest, source], { measureRss: true })
        }
      },
      {
        name: 'node -e 0 (Node start-up alone)',
        role: 'reference',
        external: true,
        run: async () => { command(process.execPath, ['-e', '0']) },
        teardown: async (round) => { if (round === 0) command(process.execPath, ['-e', '0'], { measureRss: true }) }
      }
    ]
    if (gitPair !== undefined) {
      const fetchArgs = ['--git-dir', gitPair.b, 'fetch', '--quiet', gitPair.a, 'refs/heads/*:refs/heads/*']
      cli.push({
        name: 'git fetch A → B, nothing to fetch (the snapshot repositories)',
        role: 'reference',
        external: true,
        note: 'compares ref tips only, so its cost does not grow with history',
        run: async () => { command('git', fetchArgs) },
        teardown: async (round) => { if (round === 0) command('git', fetchArgs, { measureRss: true }) }
      })
      notes.push('the no-op git fetch runs on the snapshot repositories of the first table: like snapstore\'s version vectors, git compares ref tips, so its no-op cost does not depend on the length of the history')
    }
    checks.push(`the CLI prints "${mergedLine(0, 0, 0, 'SRC')}"`)
    comparisons.push(await compare(cli, {
      title: `no-op merge into a store of ${count} events, whole CLI process`,
      rounds: noopRounds,
      unit: 's'
    }))
  } else {
    notes.push(`CLI no-op row skipped: ${CLI} does not exist (build src/cli first)`)
  }
  const subject = full.measurements.find((m) => m.role === 'subject')!
  notes.push(`events merged per second (${count} tag.set events into a fresh store, checks and projections included): ${formatNumber(subject.rate!)} events/s, median ${formatSeconds(subject.seconds)}`)
  await removeDir(data)
  return comparisons
}

/** Merges: many snapshot stores into one (beside git fetch and plain copies), a large event log (events/s), and a no-op merge on it. */
export async function mergeScenario (): Promise<ScenarioResult> {
  const storeCount = knob('MERGE_STORES', 8, 2)
  const perStore = knob('MERGE_SNAPSHOTS', 1000, 20)
  const kib = knob('MERGE_KIB', 64, 64, false)
  // The target's size is 1,000,000 events; at that size the build (95–125 s) and three merges (145–160 s each) put
  // the scenario past 10 minutes on a 2-core machine, so the default is 300,000 (SNAPSTORE_BENCH_MERGE_EVENTS=1000000).
  const events = knob('MERGE_EVENTS', 300_000, 20_000)
  const eventBlobs = knob('MERGE_EVENT_BLOBS', 1000, 100, false)
  const n = rounds(3)
  const eventRounds = rounds(3)
  const noopRounds = rounds(10)
  const withGit = gitEnabled()
  const setup: Record<string, number> = {}
  const checks: string[] = []
  const notes: string[] = []
  const params = { stores: storeCount, snapshotsPerStore: perStore, snapshotKiB: kib, events, eventBlobs, rounds: n, eventRounds, noopRounds, git: withGit }

  const { comparison, gitPair } = await snapshotMerge(storeCount, perStore, kib, n, withGit, setup, checks, notes)
  const comparisons: Comparison[] = [comparison]
  comparisons.push(...await eventMerge(events, eventBlobs, eventRounds, noopRounds, gitPair, setup, checks, notes))
  if (gitPair !== undefined) await removeDir(gitPair.b)

  if (!withGit) notes.push('git references skipped (SNAPSTORE_BENCH_GIT=0 or git missing)')
  else {
    notes.push('git fetch and the CLI snapshot merge run one round outside quick mode (slow and steady); their median is that round')
    notes.push('git fetch references: the target is judged against a repository made as users make one (git add, git commit), whose objects are loose until git gc packs them: the fetch compresses them and searches for deltas, finding none in random bytes (DESIGN.md §6 quotes about 7 s per 1,000 such files). In a repository whose blobs are already packed whole (after git gc, or here git fast-import), upload-pack sends them as they are: git\'s fastest case, shown beside it')
  }
  if (!QUICK && events < 1_000_000) notes.push(`${events} events, not the target's 1,000,000: at 1,000,000 the build (95–125 s at 8–11k events/s) and three merges (145–160 s each) take the scenario past 10 min on 2 cores; SNAPSTORE_BENCH_MERGE_EVENTS=1000000 for that size`)
  notes.push(WEPY)
  if (QUICK) notes.push('quick mode: sizes are tiny, figures are not meaningful')
  return { scenario: 'merge', title: 'merge stores into one', params, setup, checks, comparisons, notes }
}

await runAsMain(import.meta.url, mergeScenario)
