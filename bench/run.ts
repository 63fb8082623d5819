/**
 * snapstore benchmarks: `npm run bench` (tsc, then `node dist/bench/run.js [SCENARIO…]`).
 *
 * Each scenario runs in a child process of its own (`node --expose-gc`, the launcher line's NODE_FLAGS, then
 * `dist/bench/<name>.js`: Node's heap sized and collected as the CLI's is; each file also works alone and then
 * prints just its table). Each checks its output before it times anything,
 * runs every contender once per round (interleaved, so drift on a shared machine hits all alike; `sync` first, so
 * no row pays for the dirty pages of the one before; a young-generation collection, so none pays for the garbage
 * of the one before, but no full one, which would drop the JIT's optimized code; the event merge, whose rounds are
 * long, starts with one), and reports medians.
 * Each snapstore figure is printed beside references measured in the same run on the same bytes, as ratios:
 * for throughput, snapstore's rate ÷ the reference's (above 1: snapstore is faster); for latency,
 * snapstore's time ÷ the reference's (above 1: snapstore is slower). Rows marked "snapstore part" are
 * pieces or other entry points of snapstore, shown to locate costs. Peak RSS is per row: for in-process work
 * the process's peak during the row with its RSS at the start in brackets (Linux clear_refs), for a spawned
 * command the child's (/usr/bin/time).
 *
 * - ingest:    1,000 × 64 KiB random files and one 256 MiB random file into a fresh store with
 *              addBlob(store, 'snapshot', { path }), ids checked against sha-256 of the files; beside
 *              sha-256, file copy + fsync, classic-level (default and snapstore's options) as a naive
 *              blockstore, blockstore-level, and `git add` (one round only for the large file: it takes 10–20 s).
 *              Target: 256 MiB at ≥ 150 MiB/s.
 * - get:       the same blobs read back with readBlob (streamed, verified) to /dev/null, output checked
 *              against the inputs' sha-256 first; beside sha-256 of the file, a plain file read,
 *              classic-level get (with and without a sha-256 check), and `git cat-file`.
 * - ls:        `node dist/src/cli/bin.js ls snapshots STORE` on a store of 100,000 snapshots (built with
 *              putBlob + appendEvents; build time printed), median of 5; beside `node -e 0`, `ls -1` of a
 *              directory of as many files, and `git cat-file --batch-all-objects --batch-check`. Target < 0.5 s.
 * - cli-start: the installed `snapstore --help`, median of 10, beside `node -e 0` (with and without NODE_EXTRA_CA_CERTS) and the library's import
 *              alone. Target < 150 ms.
 * - large:     large snapshots: one 1 GiB and one 4 GiB random file ingested (addBlob by path) and read
 *              back (readBlob, and the CLI's get -o), beside sha-256, copy + fsync, classic-level (defaults, and tuned for
 *              large values: the design pack files were chosen over), blockstore-level and git add (1 GiB only, one round);
 *              peak RSS of the 4 GiB rows; twenty checkpoints of a 256 MiB state, each changing 5% of it in place,
 *              stored one after another (MiB/s, and stored bytes ÷ one state); verifyStore of that store (MiB/s of
 *              logical bytes) beside sha-256 of the same bytes. Targets: ingest ≥ half the slower of sha-256 and
 *              copy + fsync (410 MiB/s on a quiet machine), get ≥ 400 MiB/s, peak RSS < 256 MiB at 4 GiB, checkpoints
 *              ≤ 2× one state, verify ≥ 300 MiB/s. Knobs: _LARGE_MIB, _HUGE_MIB, _STATE_MIB, _CHECKPOINTS.
 * - append:    appendEvents in batches of 1,000 (20,000 tag.set and 20,000 blob.add events a round), ids and chain checked;
 *              beside classic-level batches (array with options, and chained) of the same event bytes, and
 *              cbor-x encode + sha-256 alone.
 *              Target ≥ 50,000 events/s.
 * - merge:     8 stores of 1,000 × 64 KiB random snapshots (built with putBlob + appendEvents) merged one after
 *              another into a fresh store with mergeStores, then closeStore; the destination is checked to list
 *              exactly the 8,000 snapshot ids and (first round) to pass verifyStore. Beside the CLI's
 *              `merge DEST SRC…`, `git fetch` into an empty bare repository by local path (one round each) of two
 *              repositories holding the same files in 8 commits: one made with git add + git commit (loose objects,
 *              which the fetch packs: the target's reference) and one made by git fast-import with the blobs packed
 *              whole (git's best case), `cp -r` of the files, and
 *              classic-level copying every key/value of the source databases into a fresh one.
 *              Target: ≥ 10× git fetch. Then a store of 300,000 tag.set events over 1,000 tiny blobs (the target's
 *              1,000,000 with SNAPSTORE_BENCH_MERGE_EVENTS=1000000: past 10 min in all; built with appendEvents
 *              in batches of 10,000 without sync; build time printed) merged into a fresh store
 *              (events/s, median of 3, beside the classic-level copy of the same database; target ≥ 50,000
 *              events/s), and merged again with nothing to copy, median of 10: the mergeStores call on an open
 *              destination (target < 100 ms), open + merge + close, and the whole CLI process beside `node -e 0`
 *              and a no-op `git fetch`. The wepy orchestrator's figures (DESIGN.md §6) are quoted in the notes.
 * - sync:      pull over loopback HTTP: a source store of 1,000 × 64 KiB random snapshots (putBlob +
 *              appendEvents), then separately one of a single 1 GiB snapshot (addBlob by path), each served by the real
 *              server (`node dist/src/cli/bin.js serve SRC --port 0` in a child process, stopped by its pid at the end)
 *              and pulled with mergeStores(fresh dest, URL), then closeStore; the destination is checked to list exactly
 *              the source's snapshot ids (sha-256 of the files) and the merge result to count every event, blob and byte.
 *              Beside a local merge of a byte copy (cp -r) of the same store (LevelDB admits one process per store, and
 *              the server holds the source) and `git fetch` by file:// of a repository holding the same files (git
 *              fast-import) into an empty bare one (one round). Target: network pull ≥ 70% of a local merge.
 *
 * Knobs (environment): SNAPSTORE_BENCH_QUICK=1 (everything tiny, one round, under a minute: a smoke check,
 * not a measurement); SNAPSTORE_BENCH_SCALE=F (multiplies every count and large size); SNAPSTORE_BENCH_ROUNDS=N;
 * per scenario SNAPSTORE_BENCH_SMALL_FILES, _SMALL_KIB, _BIG_MIB (ingest, get), _LS_SNAPSHOTS (ls),
 * _CLI_RUNS (cli-start), _APPEND_EVENTS, _APPEND_BLOB_EVENTS, _APPEND_BATCH (append), _MERGE_STORES,
 * _MERGE_SNAPSHOTS, _MERGE_KIB, _MERGE_EVENTS, _MERGE_EVENT_BLOBS (merge; SNAPSTORE_BENCH_MERGE_VERIFY=1 also
 * runs verifyStore on the merged event store above 100,000 events), _SYNC_SNAPSHOTS, _SYNC_KIB, _SYNC_BIG_MIB (sync);
 * SNAPSTORE_BENCH_GIT=0 drops the git references; SNAPSTORE_BENCH_DIR=DIR puts temp data there;
 * SNAPSTORE_BENCH_CLI=PATH times another CLI entry point than dist/src/cli/bin.js.
 *
 * Results: bench/results/latest.json (every run of every row, the machine, the knobs) and
 * bench/results/latest.md (a summary table). The CLI rows need dist/src/cli/bin.js; without it they are
 * skipped with a message.
 */
import { spawn } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { QUICK, ROOT, environment, formatNumber, formatScenario, formatSeconds } from './_lib.ts'
import { NODE_FLAGS } from '../src/cli/node-flags.ts'
import type { ScenarioResult } from './_lib.ts'

/** Every scenario, in the order `run` runs them. */
export const SCENARIOS = ['cli-start', 'ingest', 'get', 'large', 'append', 'ls', 'merge', 'sync'] as const

/** What one scenario's child process gave: its result, or why it failed. */
export type Outcome = ScenarioResult | { scenario: string, error: string }

/** Runs one scenario file in a child process and returns its result. */
export async function runScenario (name: string): Promise<Outcome> {
  const file = fileURLToPath(new URL(`./${name}.js`, import.meta.url))
  const out = join(tmpdir(), `snapstore-bench-${name}-${process.pid}.json`)
  // Node runs as the CLI's launcher line runs it (src/cli/bin.ts), so the library is measured as the CLI runs it.
  const child = spawn(process.execPath, ['--expose-gc', ...NODE_FLAGS, file], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, SNAPSTORE_BENCH_OUT: out }
  })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  try {
    if (code !== 0) return { scenario: name, error: `exited with status ${String(code)} (see the error above)` }
    return JSON.parse(await readFile(out, 'utf8')) as ScenarioResult
  } finally {
    await rm(out, { force: true })
  }
}

/** A Markdown table of every snapstore figure with its references, for a README. */
export function formatMarkdown (outcomes: readonly Outcome[]): string {
  const lines = ['| scenario | snapstore | figure | reference | figure | snapstore ÷ reference |', '|---|---|---:|---|---:|---:|']
  const figure = (latency: boolean, unit: string, seconds: number, rate: number | undefined): string =>
    latency ? formatSeconds(seconds) : `${formatNumber(rate ?? NaN)} ${unit}`
  for (const outcome of outcomes) {
    if ('error' in outcome || outcome.skipped !== undefined) continue
    for (const c of outcome.comparisons) {
      const subject = c.measurements.find((m) => m.role === 'subject')
      if (subject === undefined) continue
      const refs = c.measurements.filter((m) => m.role === 'reference')
      refs.forEach((ref, i) => {
        const left = i === 0 ? `| ${c.title} | ${subject.name} | ${figure(c.latency, c.unit, subject.seconds, subject.rate)}` : '| | |'
        const ratio = ref.ratio === undefined ? '' : `${ref.ratio.toFixed(2)}×`
        lines.push(`${left} | ${ref.name} | ${figure(c.latency, c.unit, ref.seconds, ref.rate)} | ${ratio} |`)
      })
      if (c.target !== undefined) lines.push(`| | target: ${c.target.description} | **${c.target.met ? 'met' : 'not met'}** | | | |`)
    }
  }
  return lines.join('\n') + '\n'
}

async function main (argv: readonly string[]): Promise<number> {
  const unknown = argv.filter((name) => !(SCENARIOS as readonly string[]).includes(name))
  if (unknown.length > 0) {
    process.stderr.write(`Unknown scenario ${unknown.join(', ')}; expected some of ${SCENARIOS.join(', ')}\n`)
    return 2
  }
  const chosen = argv.length > 0 ? argv : SCENARIOS
  const env = environment()
  process.stdout.write(`snapstore bench: ${chosen.join(', ')} on ${String(env['cpu'])} × ${String(env['cores'])}, Node ${process.version}${env['quick'] === true ? ' (QUICK: smoke check only)' : ''}\n`)
  const start = performance.now()
  const outcomes: Outcome[] = []
  for (const name of chosen) {
    process.stderr.write(`\n▶ ${name}\n`)
    const outcome = await runScenario(name)
    outcomes.push(outcome)
    process.stdout.write('error' in outcome ? `\n## ${name}: FAILED: ${outcome.error}\n` : formatScenario(outcome) + '\n')
  }
  const seconds = (performance.now() - start) / 1000
  env['loadAverageAtEnd'] = loadavg().map((l) => Math.round(l * 100) / 100)
  const dir = join(ROOT, 'bench/results')
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'latest.json'), JSON.stringify({ environment: env, seconds, scenarios: outcomes }, null, 2) + '\n')
  await writeFile(join(dir, 'latest.md'), formatMarkdown(outcomes))

  process.stdout.write('\n## targets\n')
  for (const outcome of outcomes) {
    if ('error' in outcome) continue
    for (const c of outcome.comparisons) {
      if (c.target !== undefined) process.stdout.write(`   ${c.target.met ? 'MET    ' : 'NOT MET'}  ${c.target.description} (${c.latency && c.target.unit === undefined ? formatSeconds(c.target.actual) : `${formatNumber(c.target.actual)} ${c.target.unit ?? c.unit}`})${QUICK ? ' (quick mode: not a measurement)' : ''}\n`)
    }
    if (outcome.skipped !== undefined) process.stdout.write(`   SKIPPED  ${outcome.scenario}: ${outcome.skipped}\n`)
  }
  process.stdout.write(`\n${outcomes.length} scenarios in ${formatSeconds(seconds)}; results in bench/results/latest.json and latest.md\n`)
  return outcomes.some((o) => 'error' in o) ? 1 : 0
}

process.exitCode = await main(process.argv.slice(2))
