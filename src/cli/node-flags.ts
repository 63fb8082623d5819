/**
 * The options the CLI's launcher line gives Node (the first line of bin.ts, which cannot import them): the
 * processes snapstore starts itself, such as the jobs of a sweep on a cluster, and the bench use them too.
 */
export const NODE_FLAGS: readonly string[] = ['--initial-old-space-size=64', '--no-concurrent-marking']
