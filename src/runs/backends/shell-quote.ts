/** Quotes one argument for a POSIX shell: bare when it is plainly safe, else in single quotes. */
export function shellQuote (arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`
}

/** A command line a POSIX shell splits back into exactly these arguments. */
export function shellCommand (argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ')
}
