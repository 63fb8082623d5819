import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises'
import { constants, tmpdir } from 'node:os'
import { extname, join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { addBlob } from '../add.ts'
import { hasBlob, readBlob } from '../blobs.ts'
import { ExistsError, LockedError, NotFoundError, SnapstoreError, isSnapstoreError } from '../errors.ts'
import { RAW, cidFromDigest } from '../ids.ts'
import { appendEvents } from '../log.ts'
import { raiseClock } from './clock.ts'
import { describeBlob } from '../query.ts'
import { resolveId } from '../resolve.ts'
import { initStore, closeStore, withStore } from '../store.ts'
import { schedulerJobOf } from './backends/backend.ts'
import { checkExecutable } from './executable.ts'
import { watchCheckpoints } from './checkpoints.ts'
import { completedRunsWithKey } from './query.ts'
import { resumePoint } from './resume-point.ts'
import { deriveSeed, runKey } from './run-key.ts'
import type { ChildProcess } from 'node:child_process'
import type { CID } from 'multiformats/cid'
import type { Store, StoreInit } from '../store.ts'
import type { RunFailBody, RunScheduler, RunStartBody, Value } from '../types.ts'
import type { RunStatus } from '../projections/runs.ts'

/** The start snapshot's file in a job directory, where CMD runs. */
export const INPUT_FILE = 'start.snapshot'
/** The file CMD writes its end snapshot to, in its job directory. */
export const OUTPUT_FILE = 'end.snapshot'

/** Everything one segment needs: where its inputs come from, what to run, where to record it. */
export interface SegmentSpec extends StoreInit {
  /** The store inputs are read from (and, without `jobDir`, written to). */
  store: string
  /** A directory for the job: inputs, checkpoints and `checkpoint.store` live there. */
  jobDir?: string
  /** A directory for the inputs and checkpoints only (events still go to `store`); a temp dir when neither is given. */
  workDir?: string
  /** The start snapshot: an id as users give it, or a CID. */
  from?: string | CID
  /** The config: an id as users give it, or a CID. */
  config?: string | CID
  /** A config file to store and use as the config (a rendered template). */
  configFile?: string
  params: Record<string, Value>
  seed?: string
  command: string[]
  force?: boolean
  continues?: CID
  label?: string
  trajectory?: string
  batch?: string
  previousBatch?: string | null
  /** The batch job this segment runs in (default: the one the environment names, if any). */
  scheduler?: RunScheduler
  /** Called with the run id once `run.start` is recorded. */
  onStart?: (run: CID) => void
  /** Send CMD's standard output to standard error, leaving standard output to the caller (`--json`). */
  stdoutToStderr?: boolean
}

/** How a segment ended. */
export interface SegmentResult {
  run: CID
  status: RunStatus
  /** True when a completed run with the same key was reused and CMD did not run. */
  memoised: boolean
  from?: CID
  end?: CID
  /** The exit status for the `run` command: CMD's, or 1 when it wrote no output. */
  exitCode: number
  reason?: string
  /** A temporary job directory kept because a file in it could not be stored (it is removed otherwise). */
  keptJobDir?: string
  /** A signal that came after CMD had ended: the run is recorded as it ended, and a chain or sweep starts nothing more. */
  lateSignal?: NodeJS.Signals
}

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM'] as const

// While CMD runs and its results are recorded, another process may hold the store for a while (a merge, a
// verify, another run storing a large checkpoint): recording waits this long rather than lose a checkpoint.
const RECORD_WAIT_SECONDS = 600

/**
 * Runs CMD as one segment: materialises the start snapshot and config as files, runs CMD with the
 * `SNAPSTORE_*` environment, stores each checkpoint as it appears and the end snapshot at the end,
 * recording `run.start`, `run.checkpoint`, then `run.end` or `run.fail`. The store is opened only for
 * each write, so other commands can read it while the segment runs.
 */
export async function runSegment (spec: SegmentSpec): Promise<SegmentResult> {
  // A signal before CMD starts (while inputs are copied out) stops the segment there, cleanly.
  let early: NodeJS.Signals | undefined
  const note = (signal: NodeJS.Signals): void => { early ??= signal }
  for (const signal of FORWARDED_SIGNALS) process.on(signal, note)
  const stopIfSignalled = (): void => {
    if (early !== undefined) throw new DOMException(`stopped by ${early} before the run started`, 'AbortError')
  }
  let jobDir: string | undefined
  const given = spec.jobDir ?? spec.workDir
  let keep = false
  try {
    const init: StoreInit = spec.wait === undefined ? {} : { wait: spec.wait }
    const inputs = await resolveInputs(spec, init)
    await checkExecutable(spec.command[0] ?? '')
    jobDir = given === undefined ? await mkdtemp(join(tmpdir(), 'snapstore-job-')) : resolve(given)
    await mkdir(jobDir, { recursive: true })
    const target = spec.jobDir === undefined ? resolve(spec.store) : join(jobDir, 'checkpoint.store')
    if (spec.jobDir !== undefined && await stat(join(target, 'db')).catch(() => undefined) === undefined) await closeStore(await initStore(target, init))
    const start = await startOf(spec, inputs)
    if (spec.force !== true) {
      const done = await findCompleted(spec.store, target, start.key, init)
      if (done !== undefined) return done
    }
    const files = await materialise(spec, inputs, jobDir, target, init)
    stopIfSignalled()
    return await execute(spec, start, files, jobDir, target, init, () => { keep = true }, () => early)
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, note)
    if (given === undefined && !keep && jobDir !== undefined) await rm(jobDir, { recursive: true, force: true })
  }
}

/** The completed run in `spec.store` that already computed what this segment would, if there is one. */
export async function findMemoised (spec: SegmentSpec): Promise<SegmentResult | undefined> {
  const init: StoreInit = spec.wait === undefined ? {} : { wait: spec.wait }
  const start = await startOf(spec, await resolveInputs(spec, init))
  return await findCompleted(spec.store, spec.store, start.key, init)
}

interface Inputs {
  from: CID | undefined
  config: CID | undefined
  /** The Lamport clock of `spec.store` when the inputs were read from it. */
  clock: number
}

/** The start snapshot and config ids, resolved in `spec.store`. */
async function resolveInputs (spec: SegmentSpec, init: StoreInit): Promise<Inputs> {
  return await withStore(spec.store, init, async (store) => ({
    clock: store.clock,
    from: spec.from === undefined ? undefined : typeof spec.from === 'string' ? await resolveId(store, spec.from, 'snapshot') : spec.from,
    config: spec.config === undefined ? undefined : typeof spec.config === 'string' ? await resolveId(store, spec.config, 'config') : spec.config
  }))
}

/** The parts of the run key, the seed and the key itself. */
async function startOf (spec: SegmentSpec, inputs: Inputs): Promise<Start> {
  const config = spec.configFile === undefined ? inputs.config : await fileId(spec.configFile)
  const parts = { ...(inputs.from === undefined ? {} : { from: inputs.from }), ...(config === undefined ? {} : { config }), params: spec.params, command: spec.command }
  const seed = spec.seed ?? deriveSeed(parts)
  return { ...parts, seed, key: runKey({ ...parts, seed }) }
}

interface Materialised {
  from?: CID
  config?: CID
  inputPath?: string
  configPath?: string
}

/** Writes the start snapshot and config into the job directory, and into a job store when there is one. */
async function materialise (spec: SegmentSpec, inputs: Inputs, jobDir: string, target: string, init: StoreInit): Promise<Materialised> {
  const out: Materialised = {}
  if (inputs.from !== undefined) {
    out.from = inputs.from
    out.inputPath = join(jobDir, INPUT_FILE)
    await copyOut([spec.store, target], inputs.from, out.inputPath, init)
  }
  if (spec.configFile !== undefined) {
    out.configPath = spec.configFile
    out.config = await withStore(target, init, async (store) => (await addBlob(store, 'config', { path: spec.configFile! }, { nameIfNew: spec.configFile!.split('/').pop()! })).id)
  } else if (inputs.config !== undefined) {
    out.config = inputs.config
    const name = await withStore(spec.store, init, async (store) => (await describeBlob(store, inputs.config!))?.name)
    out.configPath = join(jobDir, `config${name === undefined ? '' : extname(name)}`)
    await copyOut([spec.store, target], inputs.config, out.configPath, init)
  }
  if (target !== resolve(spec.store)) {
    // A job store is complete by itself: it holds the inputs its run.start names.
    await withStore(target, init, async (store) => {
      // The run comes after everything the store its inputs came from had seen: its events order after those.
      await raiseClock(store, inputs.clock)
      if (out.from !== undefined && out.inputPath !== undefined) await addBlob(store, 'snapshot', { path: out.inputPath })
      if (out.config !== undefined && out.configPath !== undefined && spec.configFile === undefined) await addBlob(store, 'config', { path: out.configPath })
    })
  }
  return out
}

/** The blob id a file would get, computed by streaming it through sha-256. */
async function fileId (path: string): Promise<CID> {
  const hash = createHash('sha256')
  await pipeline(createReadStream(path), hash)
  return cidFromDigest(RAW, hash.digest())
}

async function copyOut (storePaths: readonly string[], id: CID, path: string, init: StoreInit): Promise<void> {
  for (const storePath of storePaths) {
    const copied = await withStore(storePath, init, async (store) => {
      if (!(await hasBlob(store, id))) return false
      await pipeline(Readable.from(readBlob(store, id)), createWriteStream(path))
      return true
    })
    if (copied) return
  }
  throw new NotFoundError(`Cannot find blob "${id.toString()}" in ${storePaths.join(' or ')}`)
}

async function findCompleted (storePath: string, target: string, key: string, init: StoreInit): Promise<SegmentResult | undefined> {
  for (const path of new Set([resolve(storePath), resolve(target)])) {
    const [run] = await withStore(path, init, async (store) => await completedRunsWithKey(store, key))
    if (run !== undefined) {
      const result: SegmentResult = { run: run.id, status: 'completed', memoised: true, exitCode: 0 }
      if (run.start.from !== undefined) result.from = run.start.from
      if (run.end !== undefined) result.end = run.end.snapshot
      return result
    }
  }
  return undefined
}

type Start = Pick<RunStartBody, 'params' | 'seed' | 'key' | 'command'> & { from?: CID, config?: CID }

/** Records the start, runs CMD, stores checkpoints as they come, and records how it ended. */
async function execute (spec: SegmentSpec, start: Start, files: Materialised, jobDir: string, target: string, init: StoreInit, keepJobDir: () => void, earlySignal: () => NodeJS.Signals | undefined): Promise<SegmentResult> {
  const body: RunStartBody = { ...start, pid: process.pid }
  const scheduler = spec.scheduler ?? schedulerJobOf(process.env)
  if (scheduler !== undefined) body.scheduler = scheduler
  for (const field of ['continues', 'label', 'trajectory', 'batch', 'previousBatch'] as const) {
    if (spec[field] !== undefined) (body as unknown as Record<string, unknown>)[field] = spec[field]
  }
  const checkpointDir = join(jobDir, 'checkpoints')
  const stagingDir = join(jobDir, 'checkpoints-seen')
  const outputPath = join(jobDir, OUTPUT_FILE)
  // Checkpoints an earlier run could not store are the user's: a run in the same job directory does not wipe them.
  if ((await readdir(stagingDir).catch(() => [])).length > 0) {
    throw new ExistsError(`Cannot run in job directory "${jobDir}": ${stagingDir} holds files an earlier run could not store; store them (snapstore add snapshot STORE ${stagingDir}/*), then remove them`)
  }
  // Once CMD has ended, a signal stops waiting for the store: what is not recorded by then stays in the job directory.
  const patience = new AbortController()
  const recording: StoreInit = { wait: Math.max(init.wait ?? 5, RECORD_WAIT_SECONDS), signal: patience.signal }
  let child: ChildProcess | undefined
  let interrupted: NodeJS.Signals | undefined
  let lateSignal: NodeJS.Signals | undefined
  let exited = false
  // A signal while CMD runs is passed on to it and makes the run interrupted; one before CMD starts keeps it from starting.
  const forward = (signal: NodeJS.Signals): void => {
    if (exited) {
      lateSignal ??= signal
      patience.abort()
      return
    }
    interrupted ??= signal
    child?.kill(signal)
  }
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward)
  // One that came while this was being set up keeps CMD from starting.
  interrupted ??= earlySignal()
  try {
    let run: CID | undefined
    await withStore(target, init, async (store) => { run = (await appendEvents(store, [{ type: 'run.start', body }]))[0]!.id })
    spec.onStart?.(run!)
    try {
      const result = await runAndRecord(run!)
      return lateSignal === undefined ? result : { ...result, lateSignal }
    } catch (err) {
      // What the run left could not all be recorded: its files stay for the user to store or resume from.
      await keepFiles()
      if (isSnapstoreError(err)) throw new SnapstoreError(err.code, `${err.message} (the run's files are kept in ${jobDir})`, { cause: err, details: { ...err.details, keptJobDir: jobDir } })
      throw err
    }
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward)
  }

  /** Keeps the job directory, with an end state not stored moved among the checkpoints not stored, where no later run wipes it. */
  async function keepFiles (): Promise<void> {
    keepJobDir()
    await mkdir(stagingDir, { recursive: true }).catch(() => undefined)
    await rename(outputPath, join(stagingDir, OUTPUT_FILE)).catch(() => undefined)
  }

  /** Runs CMD, stores checkpoints as they come and what is left at the end, and records how the run ended. */
  async function runAndRecord (run: CID): Promise<SegmentResult> {
    for (const dir of [checkpointDir, stagingDir]) {
      await rm(dir, { recursive: true, force: true })
      await mkdir(dir, { recursive: true })
    }
    await rm(outputPath, { force: true })
    const append = async (work: (store: Store) => Promise<void>): Promise<void> => { await withStore(target, recording, work) }

    // The checkpoints stored, in order, and what CMD wrote as it was stopped: the state to resume from, if any.
    const stored: Array<{ id: CID, cycle?: number }> = []
    let final: CID | undefined
    let storeError: unknown
    const storeCheckpoint = async (path: string, name: string, cycle: number | undefined, isFinal = false): Promise<void> => {
      // Once one could not be stored (the store held past the wait), the rest are kept in the job directory, not waited for.
      if (storeError !== undefined) throw storeError
      await append(async (store) => {
        const { id } = await addBlob(store, 'snapshot', { path }, { nameIfNew: name })
        await appendEvents(store, [{ type: 'run.checkpoint', body: { run, snapshot: id, ...(cycle === undefined ? {} : { cycle }) } }])
        stored.push(cycle === undefined ? { id } : { id, cycle })
        if (isFinal) final = id
      })
    }
    const watcher = watchCheckpoints(checkpointDir, stagingDir, async (file) => { await storeCheckpoint(file.path, file.name, file.cycle) }, (err) => { storeError ??= err })

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SNAPSTORE_OUTPUT: outputPath,
      SNAPSTORE_CHECKPOINTS: checkpointDir,
      SNAPSTORE_SEED: start.seed,
      SNAPSTORE_RUN: run.toString(),
      SNAPSTORE_PARAMS: JSON.stringify(start.params)
    }
    if (files.inputPath !== undefined) env['SNAPSTORE_INPUT'] = files.inputPath
    if (files.configPath !== undefined) env['SNAPSTORE_CONFIG'] = files.configPath
    const [command, ...args] = spec.command
    const exit = interrupted !== undefined
      ? { code: null, signal: null }
      : await new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolveExit) => {
        // CMD runs in the job directory; a relative path given to snapstore means the caller's directory.
        child = spawn(command!.includes('/') ? resolve(command!) : command!, args, { env, stdio: ['inherit', spec.stdoutToStderr === true ? 2 : 'inherit', 'inherit'], cwd: jobDir })
        child.on('error', () => resolveExit({ code: 127, signal: null }))
        child.on('exit', (code, signal) => resolveExit({ code, signal }))
      })
    exited = true
    await watcher.stop()

    const result: SegmentResult = { run, status: 'failed', memoised: false, exitCode: exit.code ?? 1 }
    if (start.from !== undefined) result.from = start.from
    const fail = async (reason: string, extra: Partial<RunFailBody> = {}): Promise<SegmentResult> => {
      const failure: RunFailBody = { run, reason, ...extra }
      const resumeFrom = final ?? resumePoint(stored)?.id
      if (resumeFrom !== undefined) failure.lastCheckpoint = resumeFrom
      // After the store was held past the wait, or a signal ended the waiting, the failure is tried with the usual wait.
      const hurry = storeError instanceof LockedError || patience.signal.aborted
      await withStore(target, hurry ? { wait: init.wait ?? 5 } : recording, async (store) => { await appendEvents(store, [{ type: 'run.fail', body: failure }]) })
      return { ...result, status: reason === 'interrupted' ? 'interrupted' : 'failed', reason }
    }
    const stopped = interrupted ?? exit.signal ?? undefined
    const output = await stat(outputPath).catch(() => undefined)
    if (interrupted !== undefined && output !== undefined) {
      // What a simulation wrote as it stopped is the state to resume from: kept as a checkpoint without a cycle.
      await storeCheckpoint(outputPath, OUTPUT_FILE, undefined, true).catch((err: unknown) => { storeError ??= err })
    }
    if (storeError !== undefined) {
      // The run is recorded as failed, and the files not stored stay in the job directory (in checkpoints-seen/).
      await keepFiles()
      const message = storeError instanceof Error ? storeError.message : String(storeError)
      const failed = await fail(interrupted !== undefined ? 'interrupted' : `checkpoint not stored: ${message}`, stopped === undefined ? {} : { signal: stopped })
      const code = exit.code !== null && exit.code !== 0 ? exit.code : stopped !== undefined ? 128 + signalNumber(stopped) : 1
      return { ...failed, exitCode: code, keptJobDir: jobDir }
    }
    await rm(stagingDir, { recursive: true, force: true })
    if (interrupted !== undefined) {
      return { ...await fail('interrupted', { signal: interrupted }), exitCode: exit.code !== null && exit.code !== 0 ? exit.code : 128 + signalNumber(interrupted) }
    }
    if (exit.signal !== null) return { ...await fail(`killed by ${exit.signal}`, { signal: exit.signal }), exitCode: 128 + signalNumber(exit.signal) }
    if (exit.code !== 0) return await fail(`exit code ${exit.code ?? 1}`, { exitCode: exit.code ?? 1 })
    if (output === undefined) return { ...await fail('no output', { exitCode: 0 }), exitCode: 1 }
    // The run's cycles: the highest any checkpoint reached.
    const lastCycle = stored.reduce<number | undefined>((max, c) => c.cycle === undefined ? max : Math.max(max ?? c.cycle, c.cycle), undefined)
    let end: CID | undefined
    try {
      await append(async (store) => {
        end = (await addBlob(store, 'snapshot', { path: outputPath }, { nameIfNew: OUTPUT_FILE })).id
        await appendEvents(store, [{ type: 'run.end', body: { run, snapshot: end, ...(lastCycle === undefined ? {} : { cycle: lastCycle }) } }])
      })
    } catch (err) {
      // The end state stays in the job directory; the run is at least not left running, if the store allows.
      storeError = err
      await fail(`end not stored: ${err instanceof Error ? err.message : String(err)}`).catch(() => undefined)
      throw err
    }
    return { ...result, status: 'completed', end: end!, exitCode: 0 }
  }
}

function signalNumber (signal: NodeJS.Signals): number {
  return constants.signals[signal] ?? 1
}
