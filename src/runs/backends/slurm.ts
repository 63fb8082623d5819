import { execFile } from 'node:child_process'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BadInputError, isSnapstoreError } from '../../errors.ts'
import { checkExecutable } from '../executable.ts'
import { shellCommand } from './shell-quote.ts'
import type { BatchJob, Scheduler } from './backend.ts'

/** Slurm, through `sbatch --parsable`: arrays for sweeps, `--dependency` for chains. */
export const slurm: Scheduler = {
  name: 'slurm',
  check: async () => {
    try {
      await checkExecutable('sbatch')
    } catch (err) {
      if (!isSnapstoreError(err, 'E_BAD_INPUT')) throw err
      throw new BadInputError('Cannot submit to Slurm: "sbatch" is not on PATH (submit from a host of the cluster, or use --on local)', { cause: err })
    }
  },
  submit: async (job) => {
    await mkdir(job.dir, { recursive: true })
    const script = join(job.dir, `${job.name}.sh`)
    const args = sbatchArgs(job)
    await writeFile(script, batchScript(job, [...args, script]))
    await chmod(script, 0o755)
    const id = await sbatch([...args, script], job.name)
    return { id, tasks: isArray(job) ? job.tasks.map((_, index) => `${id}_${index}`) : [id] }
  },
  cancel: async (jobs) => {
    if (jobs.length === 0) return
    await new Promise<void>((resolve) => { execFile('scancel', [...jobs], () => { resolve() }) })
  },
  jobOf: (env) => {
    const array = env['SLURM_ARRAY_JOB_ID']
    const task = env['SLURM_ARRAY_TASK_ID']
    if (array !== undefined && array !== '' && task !== undefined && task !== '') return `${array}_${task}`
    const job = env['SLURM_JOB_ID']
    return job === undefined || job === '' ? undefined : job
  }
}

function isArray (job: BatchJob): boolean {
  return job.tasks.length > 1 || job.throttle !== undefined
}

/** The options of `sbatch` for a job: name, output files, array, dependency, resources. */
function sbatchArgs (job: BatchJob): string[] {
  const array = isArray(job)
  const args = ['--parsable', `--job-name=${job.name}`, `--output=${join(job.dir, array ? `${job.name}-%A_%a.out` : `${job.name}-%j.out`)}`]
  if (array) args.push(`--array=0-${job.tasks.length - 1}${job.throttle === undefined ? '' : `%${job.throttle}`}`)
  if (job.after !== undefined) {
    args.push(`--dependency=${job.after.when === 'ok' ? 'afterok' : 'afterany'}:${job.after.jobs.join(':')}`)
    // Without it, a job whose dependency can never be met (a failed segment) stays pending for ever.
    args.push('--kill-on-invalid-dep=yes')
  }
  const { partition, time, cpus, mem, extra } = job.resources
  if (partition !== undefined) args.push(`--partition=${partition}`)
  if (time !== undefined) args.push(`--time=${time}`)
  if (cpus !== undefined) args.push(`--cpus-per-task=${cpus}`)
  if (mem !== undefined) args.push(`--mem=${mem}`)
  return [...args, ...extra]
}

/** The batch script: each array task execs its own command line, quoted for the shell. */
function batchScript (job: BatchJob, submitted: readonly string[]): string {
  const lines = ['#!/bin/sh', `# Submitted by snapstore: sbatch ${shellCommand(submitted)}`]
  if (isArray(job)) {
    lines.push('case "$SLURM_ARRAY_TASK_ID" in')
    job.tasks.forEach((task, index) => { lines.push(`  ${index}) exec ${shellCommand(task)} ;;`) })
    lines.push('esac', 'echo "snapstore: no command for array task $SLURM_ARRAY_TASK_ID" >&2', 'exit 1')
  } else {
    lines.push(`exec ${shellCommand(job.tasks[0] ?? [])}`)
  }
  return `${lines.join('\n')}\n`
}

/** Runs `sbatch --parsable …` and returns the job id it prints ("1234" or "1234;cluster"). */
async function sbatch (args: readonly string[], name: string): Promise<string> {
  const { stdout, stderr, error } = await new Promise<{ stdout: string, stderr: string, error: Error | null }>((resolve) => {
    execFile('sbatch', args, { encoding: 'utf8' }, (err, out, errOut) => { resolve({ stdout: out, stderr: errOut, error: err }) })
  })
  const id = /^(\d+)(;\S*)?\s*$/.exec(stdout)?.[1]
  if (error === null && id !== undefined) return id
  const why = stderr.trim().split('\n').filter(Boolean).at(-1) ?? error?.message ?? `unexpected answer ${JSON.stringify(stdout)}`
  throw new BadInputError(`Cannot submit job "${name}" to Slurm: ${why}`, { cause: error ?? undefined })
}
