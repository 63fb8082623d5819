/** True when a process with this pid exists on this host (one of another user's counts: signalling it is refused, not unknown). */
export function processAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
