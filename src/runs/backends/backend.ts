import { slurm } from './slurm.ts'
import type { RunScheduler } from '../../types.ts'

/** What a job asks of the scheduler; fields left out take the scheduler's (or the site's) defaults. */
export interface JobResources {
  partition?: string
  time?: string
  cpus?: number
  mem?: string
  /** Further options passed to the scheduler's submit command as they are, one argument each. */
  extra: string[]
}

/** One job to submit: a single command, or an array of commands, one per task. */
export interface BatchJob {
  name: string
  /** The directory the job's script and its output files are written to. */
  dir: string
  /** The command of each task, as argument vectors; a job of one task is not an array. */
  tasks: string[][]
  /** At most this many array tasks at once. */
  throttle?: number
  /** Jobs this one waits for: until they all succeed (`ok`), or until they all end whatever happened (`any`). */
  after?: { jobs: string[], when: 'ok' | 'any' }
  resources: JobResources
}

/** A submitted job: its id, and the id of each of its tasks as the run records it. */
export interface SubmittedJob {
  id: string
  tasks: string[]
}

/** A batch scheduler snapstore can put runs on (Slurm today; Flux or HTCondor fit the same shape). */
export interface Scheduler {
  name: string
  /** Fails with a snapstore error when this host cannot submit (no submit command, say). */
  check: () => Promise<void>
  /** Writes the job's script into its directory and submits it. */
  submit: (job: BatchJob) => Promise<SubmittedJob>
  /** Cancels jobs (used to take back a submission that failed half-way). */
  cancel: (jobs: readonly string[]) => Promise<void>
  /** The job (or array task) a process runs in, from its environment; undefined outside one. */
  jobOf: (env: NodeJS.ProcessEnv) => string | undefined
}

/** The schedulers `--on` accepts besides `local`. */
export const SCHEDULERS: Readonly<Record<string, Scheduler>> = { slurm }

/** The scheduler job a process runs in, from its environment, or undefined when none started it. */
export function schedulerJobOf (env: NodeJS.ProcessEnv): RunScheduler | undefined {
  for (const scheduler of Object.values(SCHEDULERS)) {
    const job = scheduler.jobOf(env)
    if (job !== undefined) return { name: scheduler.name, job }
  }
  return undefined
}
