/**
 * The checkpoint a run resumes from, given its checkpoints in the order they were recorded: the one of
 * highest cycle (the later of equal ones), or, when none has a cycle, the last recorded.
 */
export function resumePoint<T extends { cycle?: number }> (recorded: readonly T[]): T | undefined {
  let best: T | undefined
  for (const checkpoint of recorded) {
    const later = checkpoint.cycle === undefined ? best?.cycle === undefined : best?.cycle === undefined || checkpoint.cycle >= best.cycle
    if (best === undefined || later) best = checkpoint
  }
  return best
}
