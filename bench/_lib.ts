import { spawn, spawnSync } from 'node:child_process'
import { createHash, randomFillSync } from 'node:crypto'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import type { SpawnSyncOptions } from 'node:child_process'

const MiB = 1024 * 1024
const RAW = 0x55
const SHA2_256 = 0x12

/** True when `SNAPSTORE_BENCH_QUICK=1`: every size tiny, one round, for smoke checks. */
export const QUICK = process.env['SNAPSTORE_BENCH_QUICK'] === '1'

/** Multiplier applied to every default size (`SNAPSTORE_BENCH_SCALE`, default 1). */
export const SCALE = positiveNumber('SNAPSTORE_BENCH_SCALE', 1)

/** The repository root, found from this file's place in dist/bench/. */
export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..')

/** The CLI entry point: `SNAPSTORE_BENCH_CLI`, else the built dist/src/cli/bin.js; rows that need it are skipped when it is absent. */
export const CLI = process.env['SNAPSTORE_BENCH_CLI'] ?? join(ROOT, 'dist/src/cli/bin.js')

function positiveNumber (name: string, fallback: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${text}"`)
  return value
}

/**
 * A size knob: `SNAPSTORE_BENCH_<NAME>` when set, else `quick` in quick mode, else `normal`,
 * multiplied by `SNAPSTORE_BENCH_SCALE` unless `scaled` is false (at least 1).
 */
export function knob (name: string, normal: number, quick: number, scaled = true): number {
  const set = process.env[`SNAPSTORE_BENCH_${name}`]
  if (set !== undefined && set !== '') return Math.max(1, Math.round(positiveNumber(`SNAPSTORE_BENCH_${name}`, normal)))
  if (QUICK) return quick
  return Math.max(1, Math.round(scaled ? normal * SCALE : normal))
}

/** Rounds per measurement: `SNAPSTORE_BENCH_ROUNDS`, else 1 in quick mode, else `normal`. */
export function rounds (normal: number): number {
  const set = process.env['SNAPSTORE_BENCH_ROUNDS']
  if (set !== undefined && set !== '') return Math.max(1, Math.round(positiveNumber('SNAPSTORE_BENCH_ROUNDS', normal)))
  return QUICK ? 1 : normal
}

/** True unless `SNAPSTORE_BENCH_GIT=0` turns the git references off. */
export function gitEnabled (): boolean {
  return process.env['SNAPSTORE_BENCH_GIT'] !== '0' && spawnSync('git', ['--version']).status === 0
}

/** Writes a progress line to stderr (stdout carries the tables). */
export function progress (message: string): void {
  process.stderr.write(`  · ${message}\n`)
}

/** The median of some numbers. */
export function median (values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  if (sorted.length === 0) return NaN
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** Resets this process's peak RSS (Linux `clear_refs`), so the next reading covers only what follows. */
export function resetPeakRss (): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5')
  } catch {
    // Not Linux, or not allowed: the reading falls back to the peak of the whole process.
  }
}

/** Peak RSS in MiB since the last reset (VmHWM), or of the whole process (`resourceUsage().maxRSS`). */
export function peakRssMiB (): number {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
    if (match !== null) return Number(match[1]) / 1024
  } catch {
    // Fall through to the portable figure.
  }
  return process.resourceUsage().maxRSS / 1024
}

const temps = new Set<string>()
process.on('exit', () => { for (const dir of temps) rmSync(dir, { recursive: true, force: true }) })
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130))

/** A fresh directory under `SNAPSTORE_BENCH_DIR` (or the system temp dir), removed at exit at the latest. */
export async function tempDir (label: string): Promise<string> {
  const parent = process.env['SNAPSTORE_BENCH_DIR'] ?? tmpdir()
  await mkdir(parent, { recursive: true })
  const dir = await mkdtemp(join(parent, `snapstore-bench-${label}-`))
  temps.add(dir)
  return dir
}

/** Removes a directory made by `tempDir`. */
export async function removeDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  temps.delete(dir)
}

/** Writes `count` files of `size` random bytes into `dir` and returns their paths, in name order. */
export async function writeRandomFiles (dir: string, prefix: string, count: number, size: number): Promise<string[]> {
  await mkdir(dir, { recursive: true })
  const paths: string[] = []
  const width = String(count).length
  const piece = Buffer.allocUnsafe(Math.min(size, 16 * MiB))
  for (let i = 0; i < count; i++) {
    const path = join(dir, `${prefix}${String(i).padStart(width, '0')}.bin`)
    const handle = await open(path, 'w')
    try {
      for (let done = 0; done < size; done += piece.length) {
        const bytes = piece.subarray(0, Math.min(piece.length, size - done))
        randomFillSync(bytes)
        await handle.write(bytes)
      }
    } finally {
      await handle.close()
    }
    paths.push(path)
  }
  return paths
}

/** Total size in bytes of the files under `dir`. */
export async function dirBytes (dir: string): Promise<number> {
  let total = 0
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += await dirBytes(path)
    else if (entry.isFile()) total += (await stat(path)).size
  }
  return total
}

/** The hex sha-256 of a file, streamed in 1 MiB reads. */
export async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  const handle = await open(path, 'r')
  try {
    for await (const piece of handle.createReadStream({ highWaterMark: MiB, autoClose: false })) hash.update(piece as Buffer)
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

/** The hex sha-256 of a small file read whole. */
export async function sha256SmallFile (path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex')
}

/** The options snapstore opens LevelDB with (src/store.ts), repeated here so the reference isolates LevelDB's share. */
export const SNAPSTORE_LEVEL_OPTIONS = { writeBufferSize: 64 * MiB, maxFileSize: 64 * MiB, cacheSize: 16 * MiB } as const

/** A set of input files in one directory of their own. */
export interface InputSet {
  label: string
  dir: string
  files: string[]
  bytes: number
  /** Expected hex sha-256 of each file. */
  digests: string[]
}

/** Creates the random input files of a set and hashes them for the checks. */
export async function makeInputs (label: string, dir: string, count: number, size: number): Promise<InputSet> {
  const files = await writeRandomFiles(dir, size >= MiB ? 'big-' : 'f-', count, size)
  const digests: string[] = []
  for (const file of files) digests.push(await sha256File(file))
  return { label, dir, files, bytes: count * size, digests }
}

/** Reads a file as the values a naive blockstore stores: the whole file when small, 1 MiB pieces when large. */
export async function * values (file: string, whole: boolean): AsyncGenerator<Uint8Array> {
  if (whole) {
    yield await readFile(file)
    return
  }
  const handle = await open(file, 'r')
  try {
    for await (const piece of handle.createReadStream({ highWaterMark: MiB, autoClose: false })) yield piece as Buffer
  } finally {
    await handle.close()
  }
}

/** The blob id (CIDv1, raw, sha2-256) of a hex digest, as printed by the CLI. */
export function blobIdString (hex: string): string {
  return CID.createV1(RAW, Digest.create(SHA2_256, Buffer.from(hex, 'hex'))).toString()
}

/** Fails the benchmark with `message` unless `ok`: no figure is reported for wrong output. */
export function check (ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(`Correctness check failed: ${message}`)
}

/** The wall-clock seconds an async function takes. */
export async function timed (work: () => Promise<unknown>): Promise<number> {
  const start = performance.now()
  await work()
  return (performance.now() - start) / 1000
}

/** One way of doing the work being measured: snapstore itself, a part of it, or a reference. */
export interface Contender {
  name: string
  role: 'subject' | 'detail' | 'reference'
  /** Untimed work before each round (create an empty store, open a database). */
  setup?: (round: number) => Promise<void>
  /** The timed work. */
  run: (round: number) => Promise<void>
  /** Untimed work after each round: correctness checks and clean-up. */
  teardown?: (round: number) => Promise<void>
  /** Run in at most this many rounds (for slow references whose spread is small); its median is over those. */
  maxRounds?: number
  /** True when the work is done by a spawned command: its peak RSS is the child's, taken from a `command(…, { measureRss: true })` run in any phase. */
  external?: boolean
  note?: string
}

/** What one contender measured over every round. */
export interface Measurement {
  name: string
  role: Contender['role']
  /** Median wall-clock seconds. */
  seconds: number
  /** Seconds of each round. */
  runs: number[]
  /** Work per round divided by the median seconds, in the comparison's unit (absent for latency comparisons). */
  rate?: number
  /** Highest peak RSS of any round, in MiB (for a spawned command: the child's). */
  peakRssMiB?: number
  /** For in-process work: this process's RSS when that round began, in MiB (what the peak grew from). */
  startRssMiB?: number
  /** For references: snapstore's figure divided by this one (rates for throughput, seconds for latency). */
  ratio?: number
  note?: string
}

/** A minimum or maximum a figure must meet. */
export interface Target {
  description: string
  value: number
  kind: 'min' | 'max'
  actual: number
  met: boolean
  /** The unit of `value` and `actual` when it is not the comparison's (peak RSS in MiB beside a MiB/s table). */
  unit?: string
}

/** One table: snapstore beside its references on the same work. */
export interface Comparison {
  title: string
  /** 'MiB/s' and 'events/s' are throughputs (higher is better); 's' is latency (lower is better). */
  unit: string
  latency: boolean
  work: { bytes?: number, items?: number, rounds: number }
  measurements: Measurement[]
  target?: Target
}

/** Everything one scenario reports. */
export interface ScenarioResult {
  scenario: string
  title: string
  params: Record<string, number | string | boolean>
  /** Seconds spent building inputs, not part of any figure. */
  setup: Record<string, number>
  checks: string[]
  comparisons: Comparison[]
  notes: string[]
  skipped?: string
  peakRssMiB?: number
  seconds?: number
}

/** Options of `compare`. */
export interface CompareOptions {
  title: string
  rounds: number
  /** Bytes processed per round, for MiB/s. */
  bytes?: number
  /** Items processed per round, for items/s (named by `unit`). */
  items?: number
  /** 'MiB/s', an items-per-second unit such as 'events/s', or 's' for latency. */
  unit: string
  target?: { description: string, value: number, kind: 'min' | 'max' }
  /**
   * One untimed round of each in-process contender before the timed ones: contenders that share code
   * (a pull and a local merge both run mergeStores) would otherwise leave the JIT's warm-up, and a
   * server's, to whichever runs first. It is round number `rounds` (one past the last timed one), so a
   * contender whose work depends on the round (new names, new blobs) does new work in each.
   */
  warmup?: boolean
  /**
   * One full collection before the first round: what earlier comparisons of the process left (hundreds of
   * MiB of inputs and copies) slowed a merge of 300,000 events by a quarter when collected during its rounds.
   * It costs the first round compiling again (see the collection between rounds), so it suits long rounds.
   */
  collectFirst?: boolean
}

/**
 * Runs every contender once per round, interleaved so that drift on a shared machine hits all alike,
 * and returns the medians with the subject's ratio to each reference.
 */
export async function compare (contenders: readonly Contender[], options: CompareOptions): Promise<Comparison> {
  const runs = new Map<Contender, number[]>(contenders.map((c) => [c, []]))
  const peaks = new Map<Contender, number>(contenders.map((c) => [c, 0]))
  const starts = new Map<Contender, number>()
  const spawned = new Map<Contender, number | undefined>()
  const gc = (globalThis as { gc?: (options?: { type: 'minor' | 'major' }) => void }).gc
  if (options.collectFirst === true) gc?.()
  if (options.warmup === true) {
    for (const contender of contenders.filter((c) => c.external !== true)) {
      await contender.setup?.(options.rounds)
      await contender.run(options.rounds)
      await contender.teardown?.(options.rounds)
      progress(`${options.title}: ${contender.name}: warmed up`)
    }
  }
  for (let round = 0; round < options.rounds; round++) {
    for (const contender of contenders) {
      if (contender.maxRounds !== undefined && round >= contender.maxRounds) continue
      lastChildPeak = undefined
      await contender.setup?.(round)
      // Dirty pages left by the previous contender would otherwise be written back on this one's time (and fsyncs).
      await flushDirtyPages()
      // Between rounds only the young generation is emptied, so no round inherits a collection the one before
      // it made due. A full collection here would free the hidden classes of the objects no longer alive, and
      // V8 then drops the optimized code built on them: every round compiled its hot functions again (a local
      // merge of 64 MiB: 40% of its CPU; appends, 10–30% of their time).
      gc?.({ type: 'minor' })
      resetPeakRss()
      const before = peakRssMiB()
      const seconds = await timed(async () => { await contender.run(round) })
      const peak = peakRssMiB()
      if (peak >= peaks.get(contender)!) {
        peaks.set(contender, peak)
        starts.set(contender, before)
      }
      runs.get(contender)!.push(seconds)
      await contender.teardown?.(round)
      if (lastChildPeak !== undefined) spawned.set(contender, Math.max(spawned.get(contender) ?? 0, lastChildPeak))
      progress(`${options.title}: ${contender.name}: ${seconds.toFixed(3)} s (round ${round + 1}/${options.rounds})`)
    }
  }
  const latency = options.unit === 's'
  const amount = options.unit === 'MiB/s' ? (options.bytes ?? 0) / MiB : (options.items ?? 0)
  const measurements: Measurement[] = contenders.map((c) => {
    const all = runs.get(c)!
    const seconds = median(all)
    const m: Measurement = { name: c.name, role: c.role, seconds, runs: all.map(round6) }
    if (!latency) m.rate = amount / seconds
    const childPeak = spawned.get(c)
    if (c.external !== true) {
      m.peakRssMiB = round1(peaks.get(c)!)
      m.startRssMiB = round1(starts.get(c)!)
    }
    else if (childPeak !== undefined) m.peakRssMiB = round1(childPeak)
    if (c.note !== undefined) m.note = c.note
    return m
  })
  const subject = measurements.find((m) => m.role === 'subject')
  if (subject !== undefined) {
    for (const m of measurements) {
      if (m.role !== 'reference') continue
      m.ratio = latency ? subject.seconds / m.seconds : subject.rate! / m.rate!
    }
  }
  const work: Comparison['work'] = { rounds: options.rounds }
  if (options.bytes !== undefined) work.bytes = options.bytes
  if (options.items !== undefined) work.items = options.items
  const comparison: Comparison = { title: options.title, unit: options.unit, latency, work, measurements }
  if (options.target !== undefined && subject !== undefined) {
    const actual = latency ? subject.seconds : subject.rate!
    const met = options.target.kind === 'min' ? actual >= options.target.value : actual <= options.target.value
    comparison.target = { ...options.target, actual, met }
  }
  return comparison
}

/**
 * A shell started once, while this process is still small, that runs sync(1) on each line it reads and
 * answers with a line: forking the measuring process itself right before a round slowed the round after
 * it (a pull of 1,000 × 64 KiB from about 0.33 to 0.58 s, a local merge much less), which no user pays.
 */
class DirtyPageFlusher {
  readonly #child = spawn('sh', ['-c', 'while read line; do sync; echo done; done'], { stdio: ['pipe', 'pipe', 'inherit'] })
  readonly #waiting: Array<{ resolve: () => void, reject: (err: Error) => void }> = []
  #gone: Error | undefined

  constructor () {
    createInterface({ input: this.#child.stdout! }).on('line', () => { this.#waiting.shift()?.resolve() })
    const gone = (why: string): void => {
      this.#gone ??= new Error(`the shell that runs sync(1) ${why}`)
      for (const waiting of this.#waiting.splice(0)) waiting.reject(this.#gone)
    }
    this.#child.on('error', (err) => { gone(`failed: ${err.message}`) })
    this.#child.on('exit', (code, signal) => { gone(`exited (${signal ?? code})`) })
    this.#idle()
  }

  /** Runs sync(1) in the shell and resolves once it has returned. */
  async flush (): Promise<void> {
    if (this.#gone !== undefined) throw this.#gone
    this.#busy()
    try {
      await new Promise<void>((resolve, reject) => {
        this.#waiting.push({ resolve, reject })
        this.#child.stdin!.write('sync\n')
      })
    } finally {
      this.#idle()
    }
  }

  // The shell keeps the process alive only while a flush waits for it.
  #busy (): void {
    for (const handle of [this.#child, this.#child.stdin, this.#child.stdout] as unknown as Array<{ ref: () => void }>) handle.ref()
  }

  #idle (): void {
    for (const handle of [this.#child, this.#child.stdin, this.#child.stdout] as unknown as Array<{ unref: () => void }>) handle.unref()
  }
}

const flusher = new DirtyPageFlusher()

/** Asks the kernel to write every dirty page back now (sync(1)); untimed, between contenders. */
export async function flushDirtyPages (): Promise<void> {
  await flusher.flush()
}

let lastChildPeak: number | undefined
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined

/** The result of running a command. */
export interface CommandOutput {
  status: number | null
  stdout: Buffer
  stderr: Buffer
}

/**
 * Runs a command to completion and fails unless it exits 0. With `measureRss`, runs it under /usr/bin/time
 * (when present) and records the child's peak RSS for the contender being timed; that run costs about a millisecond more.
 */
export function command (file: string, args: readonly string[], options: SpawnSyncOptions & { measureRss?: boolean } = {}): CommandOutput {
  const { measureRss, ...spawnOptions } = options
  let argv = [file, ...args]
  let rssFile: string | undefined
  if (measureRss === true && TIME !== undefined) {
    rssFile = join(tmpdir(), `snapstore-bench-rss-${process.pid}`)
    argv = [TIME, '-f', '%M', '-o', rssFile, ...argv]
  }
  const result = spawnSync(argv[0]!, argv.slice(1), { maxBuffer: 1024 * MiB, ...spawnOptions })
  if (result.error !== undefined) throw result.error
  if (rssFile !== undefined) {
    try {
      const kib = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop())
      if (Number.isFinite(kib)) lastChildPeak = Math.max(lastChildPeak ?? 0, kib / 1024)
    } finally {
      rmSync(rssFile, { force: true })
    }
  }
  const out: CommandOutput = { status: result.status, stdout: toBuffer(result.stdout), stderr: toBuffer(result.stderr) }
  if (result.status !== 0) {
    throw new Error(`${[file, ...args].join(' ')} exited ${String(result.status ?? result.signal)}: ${out.stderr.toString().trim().slice(0, 500)}`)
  }
  return out
}

function toBuffer (value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value
  return Buffer.from(typeof value === 'string' ? value : '')
}

function round1 (n: number): number {
  return Math.round(n * 10) / 10
}

function round6 (n: number): number {
  return Math.round(n * 1e6) / 1e6
}

/** A number for a table: 3 significant digits, thousands grouped. */
export function formatNumber (n: number): string {
  if (!Number.isFinite(n)) return String(n)
  const abs = Math.abs(n)
  if (abs >= 1000) return Math.round(n).toLocaleString('en-US')
  if (abs >= 100) return n.toFixed(0)
  if (abs >= 10) return n.toFixed(1)
  return n.toFixed(abs >= 1 ? 2 : 3)
}

/** Seconds for a table, in ms below 1 s. */
export function formatSeconds (s: number): string {
  return s < 1 ? `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)} ms` : `${s.toFixed(2)} s`
}

function formatRatio (ratio: number | undefined): string {
  if (ratio === undefined) return ''
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(2)}×`
}

/** The readable table of one scenario. */
export function formatScenario (result: ScenarioResult): string {
  const lines: string[] = []
  lines.push(`\n## ${result.scenario}: ${result.title}`)
  const params = Object.entries(result.params).map(([k, v]) => `${k}=${String(v)}`).join(', ')
  if (params !== '') lines.push(`   ${params}`)
  if (result.skipped !== undefined) {
    lines.push(`   SKIPPED: ${result.skipped}`)
  }
  const setup = Object.entries(result.setup).map(([k, v]) => `${k} ${formatSeconds(v)}`).join(', ')
  if (setup !== '') lines.push(`   setup (untimed): ${setup}`)
  for (const c of result.comparisons) {
    const rate = c.latency ? '' : c.unit
    const ratioHead = c.latency ? 'snapstore time ÷ ref' : 'snapstore rate ÷ ref'
    const rows: string[][] = [['', rate, 'median', 'peak RSS', ratioHead]]
    for (const m of c.measurements) {
      const fewer = m.runs.length < c.work.rounds ? ` *${m.runs.length}` : ''
      const label = (m.role === 'subject' ? `snapstore: ${m.name}` : m.role === 'detail' ? `  (snapstore part) ${m.name}` : `ref: ${m.name}`) + fewer
      rows.push([
        label,
        m.rate === undefined ? '' : formatNumber(m.rate),
        formatSeconds(m.seconds),
        m.peakRssMiB === undefined ? '' : `${m.peakRssMiB.toFixed(0)} MiB${m.startRssMiB === undefined ? ' (child)' : ` (from ${m.startRssMiB.toFixed(0)})`}`,
        formatRatio(m.ratio)
      ])
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
    lines.push(`\n   ${c.title} (median of ${c.work.rounds}${c.measurements.some((m) => m.runs.length < c.work.rounds) ? '; rows marked * fewer' : ''})`)
    for (const row of rows) {
      lines.push('   ' + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('   ').trimEnd())
    }
    if (c.target !== undefined) {
      const t = c.target
      const actual = c.latency && t.unit === undefined ? formatSeconds(t.actual) : `${formatNumber(t.actual)} ${t.unit ?? c.unit}`
      lines.push(`   target: ${t.description}: ${t.met ? 'MET' : 'NOT MET'} (${actual})${QUICK ? ' (quick mode: not a measurement)' : ''}`)
    }
  }
  for (const check of result.checks) lines.push(`   ✓ ${check}`)
  for (const note of result.notes) lines.push(`   note: ${note}`)
  return lines.join('\n')
}

/** Facts about the machine and the run, stored with the results. */
export function environment (): Record<string, unknown> {
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT })
  return {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    commit: git.status === 0 ? git.stdout.toString().trim() : undefined,
    srcDirty: dirty.status === 0 ? dirty.stdout.toString().trim() !== '' : undefined,
    quick: QUICK,
    scale: SCALE,
    tmp: process.env['SNAPSTORE_BENCH_DIR'] ?? tmpdir(),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100)
  }
}

/**
 * Runs a scenario as the main module: prints its table, or, when `SNAPSTORE_BENCH_OUT` is set
 * (as `run.ts` does), writes its result there as JSON.
 */
export async function runAsMain (metaUrl: string, scenario: () => Promise<ScenarioResult>): Promise<void> {
  if (process.argv[1] === undefined || metaUrl !== pathToFileURL(process.argv[1]).href) return
  const start = performance.now()
  const result = await scenario()
  result.seconds = (performance.now() - start) / 1000
  result.peakRssMiB = round1(process.resourceUsage().maxRSS / 1024)
  const out = process.env['SNAPSTORE_BENCH_OUT']
  if (out !== undefined && out !== '') {
    await writeFile(out, JSON.stringify(result, null, 2))
  } else {
    process.stdout.write(formatScenario(result) + '\n')
  }
}
