import { execFile, spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import * as assert from 'uvu/assert'
import { fixturePath } from './store.ts'

const run = promisify(execFile)

/** The script that starts and stops a private single-node Slurm cluster (also used by `npm run demo:slurm`). */
export const SLURM_LOCAL = fixturePath('slurm-local.sh')

/** A private single-node Slurm cluster: client commands need `env` (SLURM_CONF). */
export interface LocalSlurm {
  dir: string
  env: NodeJS.ProcessEnv
  /** Stops the daemons by the pids they recorded and removes the folder. */
  stop: () => Promise<void>
}

/** Why a private Slurm cannot be started here, or undefined when it can. */
export function whyNoSlurm (): string | undefined {
  if (process.platform !== 'linux') return 'not Linux'
  if (process.getuid?.() !== 0) return 'not running as root'
  for (const tool of ['slurmctld', 'slurmd', 'sbatch', 'munged', 'mungekey']) {
    if (spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) return `${tool} not found`
  }
  return undefined
}

/** Starts munged, slurmctld and slurmd in a fresh temp folder and waits until the node is idle. */
export async function startSlurm (): Promise<LocalSlurm> {
  const dir = await mkdtemp(join(tmpdir(), 'snapstore-slurm-'))
  const path = `${process.env['PATH'] ?? ''}:/usr/sbin:/sbin`
  const stop = async (): Promise<void> => {
    await run('bash', [SLURM_LOCAL, 'stop', dir], { env: { ...process.env, PATH: path } })
    await rm(dir, { recursive: true, force: true })
  }
  try {
    const { stdout } = await run('bash', [SLURM_LOCAL, 'start', dir], { env: { ...process.env, PATH: path } })
    return { dir, env: { SLURM_CONF: stdout.trim(), PATH: path }, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

/** The state of each of these jobs (array tasks included) as the controller reports it. */
export async function jobStates (slurm: LocalSlurm, jobs: readonly string[]): Promise<string[]> {
  const { stdout } = await run('squeue', ['-h', '-t', 'all', '-j', jobs.join(','), '-o', '%T'], { env: { ...process.env, ...slurm.env } })
  return stdout.split('\n').filter(Boolean)
}

/** Waits until every one of these jobs has left the queue's pending and running states, failing after `seconds`. */
export async function waitForJobs (slurm: LocalSlurm, jobs: readonly string[], seconds = 120): Promise<void> {
  const deadline = Date.now() + seconds * 1000
  for (;;) {
    const states = await jobStates(slurm, jobs)
    if (states.every((state) => !/^(PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|RESIZING)$/.test(state))) return
    if (Date.now() > deadline) assert.unreachable(`timed out waiting for Slurm jobs ${jobs.join(', ')}: ${states.join(', ')}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}
