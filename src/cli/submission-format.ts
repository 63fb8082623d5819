import { resolve } from 'node:path'
import { writeJson, writeLine } from './output.ts'
import type { Submission } from '../runs/job-stores.ts'

/** Prints where a submission's job stores are and how they come home: by its merge job, or by its merge script. */
export async function reportSubmission (submission: Submission, store: string, options: { json?: boolean }): Promise<void> {
  if (options.json === true) {
    await writeJson({ submission: { scheduler: submission.scheduler, dir: submission.dir, stores: submission.stores, mergeScript: submission.mergeScript, mergeJob: submission.mergeJob ?? null } })
    return
  }
  await writeLine(`job stores under ${submission.dir}`)
  if (submission.mergeJob !== undefined) await writeLine(`${submission.scheduler} job ${submission.mergeJob} merges them into ${resolve(store)} when every job has ended`)
  else await writeLine(`merge them into ${resolve(store)} when the jobs have ended: sh ${submission.mergeScript}`)
}
