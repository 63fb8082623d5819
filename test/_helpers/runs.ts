import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import * as assert from 'uvu/assert'
import { isSnapstoreError, iterateLog, parseCid, readBlobBytes } from '../../src/index.ts'
import { listRuns } from '../../src/runs/query.ts'
import { jsonReplacer } from '../../src/cli/output.ts'
import { runJson } from '../../src/cli/run-format.ts'
import { cliContext, jsonLines, lines, seed, snap, withLibrary } from './cli.ts'
import { CLI, fixturePath } from './store.ts'
import type { RunFilter } from '../../src/runs/query.ts'
import type { CliContext, Run } from './cli.ts'

/** The toy simulation: params cycles, delay (ms per cycle), exit (code), no_output. */
export const TOY = fixturePath('toy-sim.mjs')

/** A segment that writes the SNAPSTORE_* environment it got (and its input's digest and config text) as its end snapshot. */
export const ENV_DUMP = fixturePath('env-dump.mjs')

/** The command line that runs the toy simulation (absolute paths: CMD runs in the job directory). */
export const toyCommand: readonly string[] = [process.execPath, TOY]

/** The command line that runs the environment-dumping segment. */
export const envDumpCommand: readonly string[] = [process.execPath, ENV_DUMP]

/** The start state every runs test begins from. */
export const START_STATE = 'state 0: 64 particles at rest\n'

/** A store (closed, at `store`) holding one start snapshot `start`, in a fresh temp directory `dir`. */
export interface RunsContext extends CliContext {
  start: string
}

/** Creates a temp directory with a store holding one start snapshot. */
export async function runsContext (): Promise<RunsContext> {
  const ctx = await cliContext()
  const [start] = await seed(ctx.store, [{ kind: 'snapshot', content: START_STATE, options: { name: 'start.state' } }])
  return { ...ctx, start: start! }
}

/** What the toy writes as its end state after `cycles` cycles from `input` with `config`: its algorithm, restated. */
export function toyOutput (input: string | Uint8Array, cycles: number, config = ''): Buffer {
  let state = Buffer.from(input)
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const digest = createHash('sha256').update(state).update(config).digest('hex')
    state = Buffer.concat([state, Buffer.from(`cycle ${cycle} ${digest}\n`)])
  }
  return state
}

/** The contract's last line of a `run`: `Run start and end hashes: START, END`. */
export const HASHES_LINE = /^Run start and end hashes: (\S+), (\S+)$/

/** Every `Run start and end hashes` line of an output, as [start, end] pairs. */
export function hashLines (stdout: string): Array<[string, string]> {
  return lines(stdout).flatMap((line) => {
    const match = HASHES_LINE.exec(line)
    return match === null ? [] : [[match[1]!, match[2]!] as [string, string]]
  })
}

/** The start and end ids of the last stdout line, which must be the hashes line. */
export function lastHashes (stdout: string): { start: string, end: string } {
  const last = lines(stdout).at(-1) ?? ''
  const match = HASHES_LINE.exec(last)
  assert.ok(match !== null, `the last stdout line must be the hashes line, got ${JSON.stringify(last)}`)
  return { start: match[1]!, end: match[2]! }
}

/**
 * The runs of a store read in-process, each as the JSON object `ls runs --json` prints for it: for
 * checking what a command recorded without paying for another CLI process.
 */
export async function runsIn (path: string, filter: RunFilter = {}): Promise<Array<Record<string, unknown>>> {
  return await withLibrary(path, async (store) => {
    const out: Array<Record<string, unknown>> = []
    for await (const run of listRuns(store, filter)) out.push(JSON.parse(JSON.stringify(runJson(run), jsonReplacer)) as Record<string, unknown>)
    return out
  })
}

/** The ids of every event of a store in total order, read in-process: equal lists mean nothing was recorded. */
export async function eventIdsIn (path: string): Promise<string[]> {
  return await withLibrary(path, async (store) => {
    const ids: string[] = []
    for await (const stored of iterateLog(store)) ids.push(stored.id.toString())
    return ids
  })
}

/** The events of a store in total order, read in-process, as `{id, type, body}` with CIDs as strings. */
export async function eventsIn (path: string): Promise<Array<{ id: string, type: string, body: Record<string, unknown> }>> {
  return await withLibrary(path, async (store) => {
    const out: Array<{ id: string, type: string, body: Record<string, unknown> }> = []
    for await (const { id, event } of iterateLog(store)) out.push({ id: id.toString(), type: event.type, body: JSON.parse(JSON.stringify(event.body, jsonReplacer)) as Record<string, unknown> })
    return out
  })
}

/** The bytes of a blob, read in-process. */
export async function blobIn (path: string, id: string): Promise<Buffer> {
  return Buffer.from(await withLibrary(path, async (store) => await readBlobBytes(store, parseCid(id))))
}

/** `ls runs STORE --json` with extra arguments, parsed; the command must succeed. */
export async function runsJson (store: string, ...args: string[]): Promise<Array<Record<string, unknown>>> {
  const run = await snap(['ls', 'runs', store, '--json', ...args])
  assert.is(run.stderr, '', `ls runs ${args.join(' ')}: stderr`)
  assert.is(run.status, 0, 'ls runs exit status')
  return jsonLines(run.stdout)
}

/** `show STORE RUN --json`, parsed; the command must succeed. */
export async function showRun (store: string, run: string): Promise<Record<string, unknown>> {
  const shown = await snap(['show', store, run, '--json'])
  assert.is(shown.stderr, '', 'show --json: stderr')
  assert.is(shown.status, 0, 'show --json exit status')
  const [item, ...rest] = jsonLines(shown.stdout)
  assert.is(rest.length, 0, 'show --json prints one object')
  return item!
}

/** `log STORE --json` with extra arguments, parsed. */
export async function eventsJson (store: string, ...args: string[]): Promise<Array<Record<string, unknown>>> {
  const log = await snap(['log', store, '--json', ...args])
  assert.is(log.status, 0, `log ${args.join(' ')}: ${log.stderr}`)
  return jsonLines(log.stdout)
}

/** `log STORE` as text: what must not change when a command records nothing. */
export async function logText (store: string): Promise<string> {
  const log = await snap(['log', store])
  assert.is(log.status, 0, `log: ${log.stderr}`)
  return log.stdout
}

/** The checkpoints of a run as `show --json` and `ls runs --json` print them. */
export interface CheckpointJson {
  snapshot: string
  cycle: number | null
  time: string
}

/** The checkpoints of a run object from `--json` output. */
export function checkpointsOf (run: Record<string, unknown>): CheckpointJson[] {
  return run['checkpoints'] as CheckpointJson[]
}

/** A CLI process left running, for tests that act while it goes on. */
export interface LiveCli {
  pid: number
  /** Resolves when the snapstore process itself exits (its CMD may live on after a SIGKILL). */
  exited: Promise<{ status: number | null, signal: NodeJS.Signals | null }>
  /** Resolves with everything once the process and every holder of its output pipes are gone. */
  done: Promise<Run>
  /** Sends a signal to the snapstore process only. */
  signal: (signal: NodeJS.Signals) => void
  /** SIGKILLs whatever is left of the process group (an orphaned CMD) and waits for the output to close. */
  cleanUp: () => Promise<Run>
}

/**
 * Starts the built CLI in a process group of its own, so that a CMD orphaned by a SIGKILL of snapstore
 * can be found and stopped. `env` is added to the environment (e.g. TMPDIR, so that a job directory
 * left behind by a killed wrapper lands in the test's temp directory).
 */
export function startCli (args: readonly string[], env: NodeJS.ProcessEnv = {}): LiveCli {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const out: Buffer[] = []
  const err: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => err.push(chunk))
  const exited = new Promise<{ status: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (status, signal) => resolve({ status, signal }))
  })
  const done = new Promise<Run>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (status, signal) => {
      const bytes = Buffer.concat(out)
      resolve({ status, signal, stdout: bytes.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), out: bytes })
    })
  })
  const pid = child.pid!
  return {
    pid,
    exited,
    done,
    signal: (signal) => { child.kill(signal) },
    cleanUp: async () => {
      try {
        process.kill(-pid, 'SIGKILL')
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error
      }
      return await done
    }
  }
}

/** Polls `check` until it returns a value other than undefined, failing after `seconds`. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined>, seconds = 15): Promise<T> {
  const deadline = Date.now() + seconds * 1000
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) assert.unreachable(`timed out waiting until ${what}`)
    await sleep(50)
  }
}

/** The table a `sweep` prints after CMD's own output: header, rows, summary. */
export interface SweepTable {
  /** What CMD printed before the table. */
  before: string[]
  rows: Array<{ status: string, run: string, end: string, params: Record<string, unknown> }>
  summary: string
}

/** Splits a sweep's stdout into CMD's output and the table that must end it. */
export function sweepTable (stdout: string): SweepTable {
  const all = lines(stdout)
  const header = all.indexOf('status\trun\tend\tparams')
  assert.ok(header >= 0, `sweep prints the header "status run end params": ${stdout}`)
  const rows = all.slice(header + 1, -1).map((line) => {
    const [status, run, end, params, ...rest] = line.split('\t')
    assert.is(rest.length, 0, `a sweep row has 4 columns: ${line}`)
    return { status: status!, run: run!, end: end!, params: JSON.parse(params!) as Record<string, unknown> }
  })
  return { before: all.slice(0, header), rows, summary: all.at(-1)! }
}

/**
 * Wraps a suite hook so that a snapstore error thrown in it fails the suite visibly: uvu reads an
 * error's `details` as a diff string, and a `SnapstoreError` carries an object there (see specSuite).
 */
export function hook<T> (work: (ctx: T) => Promise<void>): (ctx: T) => Promise<void> {
  return async (ctx) => {
    try {
      await work(ctx)
    } catch (err) {
      if (!isSnapstoreError(err)) throw err
      throw new Error(`unexpected ${err.code} in a suite hook: ${err.message}`, { cause: err })
    }
  }
}
