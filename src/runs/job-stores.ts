import { chmod, mkdir, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { addBlob } from '../add.ts'
import { readBlob } from '../blobs.ts'
import { describeBlob } from '../query.ts'
import { resolveId } from '../resolve.ts'
import { closeStore, initStore, withStore } from '../store.ts'
import { shellCommand } from './backends/shell-quote.ts'
import { raiseClock } from './clock.ts'
import { snapstoreCommand } from './run-args.ts'
import type { CID } from 'multiformats/cid'
import type { BatchJob, JobResources, Scheduler } from './backends/backend.ts'
import type { StoreInit } from '../store.ts'
import type { BlobKind } from '../types.ts'

/** How runs go to a scheduler: which one, what each job asks for, where job stores go, whether they come home by themselves. */
export interface SubmitOptions extends StoreInit {
  scheduler: Scheduler
  resources: JobResources
  /** The folder under which this submission gets a folder of its own (default: STORE/jobs). */
  jobRoot?: string
  /** Submit a last job that merges the job stores into the store once every job has ended. */
  merge: boolean
}

/** What a submission left behind: its folder, the job stores, and the script (and job) that merges them home. */
export interface Submission {
  scheduler: string
  dir: string
  stores: string[]
  mergeScript: string
  /** The id of the job that runs the merge script, when one was submitted. */
  mergeJob?: string
}

/** A fresh folder for one submission, named by its kind and time: STORE/jobs/sweep-20260101-120000-ab12. */
export async function submissionDir (store: string, kind: string, options: SubmitOptions): Promise<string> {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-')
  const dir = join(resolve(options.jobRoot ?? join(store, 'jobs')), `${kind}-${stamp}-${Math.random().toString(16).slice(2, 6)}`)
  await mkdir(dir, { recursive: true })
  return dir
}

/**
 * Runs the submitting `work` in the submission's folder; if it fails, the jobs it had submitted are
 * cancelled and the folder removed, so a failed submission leaves nothing queued and nothing behind.
 */
export async function undoOnFailure<T> (dir: string, scheduler: Scheduler, work: (submitted: string[]) => Promise<T>): Promise<T> {
  const submitted: string[] = []
  try {
    return await work(submitted)
  } catch (err) {
    await scheduler.cancel(submitted)
    await rm(dir, { recursive: true, force: true })
    throw err
  }
}

/** Resolves the start snapshot and config given on the command line to ids in the store. */
export async function resolveStartAndConfig (store: string, from: string | CID | undefined, config: string | CID | undefined, init: StoreInit): Promise<{ from?: CID, config?: CID }> {
  return await withStore(store, init, async (s) => ({
    ...(from === undefined ? {} : { from: typeof from === 'string' ? await resolveId(s, from, 'snapshot') : from }),
    ...(config === undefined ? {} : { config: typeof config === 'string' ? await resolveId(s, config, 'config') : config })
  }))
}

/**
 * Creates each job's store in `DIR/checkpoint.store` holding the given inputs, so that a job reads and
 * writes only its own store and never waits for the master's lock. Returns the store paths.
 */
export async function prepareJobStores (master: string, dirs: readonly string[], inputs: ReadonlyArray<{ id: CID, kind: BlobKind }>, init: StoreInit): Promise<string[]> {
  return await withStore(master, init, async (source) => {
    const names = await Promise.all(inputs.map(async ({ id }) => (await describeBlob(source, id))?.name))
    const stores: string[] = []
    for (const dir of dirs) {
      const path = join(dir, 'checkpoint.store')
      const store = await initStore(path, init)
      try {
        // The job's events come after everything the master had seen when it was submitted.
        await raiseClock(store, source.clock)
        for (const [index, { id, kind }] of inputs.entries()) {
          const name = names[index]
          await addBlob(store, kind, readBlob(source, id), name === undefined ? {} : { name })
        }
      } finally {
        await closeStore(store)
      }
      stores.push(path)
    }
    return stores
  })
}

/**
 * Writes DIR/merge.sh, which merges the job stores into the master (run it by hand to bring them home
 * later), and submits it as a job after every given job has ended, when asked to.
 */
export async function submitMerge (master: string, dir: string, stores: readonly string[], after: readonly string[], options: SubmitOptions): Promise<Submission> {
  const mergeScript = join(dir, 'merge.sh')
  // Ten minutes for the master's lock: someone may be reading or merging into it when the jobs end.
  await writeFile(mergeScript, `#!/bin/sh\nexec ${shellCommand(snapstoreCommand('merge', resolve(master), ...stores, '--wait', '600'))}\n`)
  await chmod(mergeScript, 0o755)
  const submission: Submission = { scheduler: options.scheduler.name, dir, stores: [...stores], mergeScript }
  if (options.merge) {
    // After any ending, not only success: a failed run's record must come home too.
    const job: BatchJob = { name: 'snapstore-merge', dir, tasks: [['/bin/sh', mergeScript]], after: { jobs: [...after], when: 'any' }, resources: { extra: options.resources.extra, ...(options.resources.partition === undefined ? {} : { partition: options.resources.partition }) } }
    submission.mergeJob = (await options.scheduler.submit(job)).id
  }
  return submission
}
