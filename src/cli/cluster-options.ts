import { UsageError } from '../errors.ts'
import { SCHEDULERS } from '../runs/backends/backend.ts'
import type { SubmitOptions } from '../runs/job-stores.ts'
import type { StoreInit } from '../store.ts'

/** Options of `run` and `sweep` that choose where runs execute and what their jobs ask for. */
export interface ClusterOptions {
  on?: string
  partition?: string
  time?: string
  cpus?: string
  mem?: string
  sbatchArg?: string[]
  merge?: boolean
  jobDir?: string
}

/** How to submit, from the command line; undefined for `--on local` (the default), where the other options make no sense. */
export function submitOptions (options: ClusterOptions, init: StoreInit): SubmitOptions | undefined {
  const where = options.on ?? 'local'
  const given = [['--partition', options.partition], ['--time', options.time], ['--cpus', options.cpus], ['--mem', options.mem], ['--sbatch-arg', options.sbatchArg?.[0]], ['--no-merge', options.merge === false ? true : undefined]]
    .filter(([, value]) => value !== undefined).map(([name]) => name)
  if (where === 'local') {
    if (given.length > 0) throw new UsageError(`Cannot use ${given.join(', ')} without --on slurm: they are for jobs on a cluster`)
    return undefined
  }
  const scheduler = SCHEDULERS[where]
  if (scheduler === undefined) throw new UsageError(`Unknown --on "${where}": expected local or ${Object.keys(SCHEDULERS).join(', ')}`)
  const cpus = options.cpus === undefined ? undefined : Number(options.cpus)
  if (cpus !== undefined && (!Number.isInteger(cpus) || cpus < 1)) throw new UsageError(`Invalid --cpus "${options.cpus}": expected a positive integer`)
  return {
    ...init,
    scheduler,
    merge: options.merge !== false,
    resources: {
      extra: options.sbatchArg ?? [],
      ...(options.partition === undefined ? {} : { partition: options.partition }),
      ...(options.time === undefined ? {} : { time: options.time }),
      ...(cpus === undefined ? {} : { cpus }),
      ...(options.mem === undefined ? {} : { mem: options.mem })
    },
    ...(options.jobDir === undefined ? {} : { jobRoot: options.jobDir })
  }
}
