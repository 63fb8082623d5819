import { readFile } from 'node:fs/promises'
import { BadInputError, NotFoundError } from '../errors.ts'
import type { Environment } from 'nunjucks'

// Jinja2-compatible: the templates users already keep for mdsim and wepy render unchanged. Loaded on the
// first render (about 20 ms and two dozen modules), so a `run` without --template never loads it.
let environment: Environment | undefined

/** Renders a Jinja2-style template file with `context`; a template error is `E_BAD_INPUT` naming its line. */
export async function renderTemplate (path: string, context: Record<string, unknown>): Promise<string> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? new NotFoundError(`Cannot read template "${path}": no such file`, { cause: err }) : new BadInputError(`Cannot read template "${path}": ${err.message}`, { cause: err })
  })
  environment ??= new (await import('nunjucks')).default.Environment(null, { autoescape: false, throwOnUndefined: true })
  try {
    return environment.renderString(text, context)
  } catch (err) {
    throw new BadInputError(`Cannot render template "${path}": ${describeRenderError(text, context, (err as Error).message)}`, { cause: err })
  }
}

/** A template error on one line, quoting the template line it names and saying which value is missing or none. */
function describeRenderError (text: string, context: Record<string, unknown>, message: string): string {
  let said = message.replace(/\s+/g, ' ').replace(/^\(unknown path\)\s*/, '').trim()
  const line = /\[Line (\d+), Column \d+\]/.exec(said)
  const quoted = line === null ? undefined : text.split('\n')[Number(line[1]) - 1]?.trim()
  if (quoted !== undefined && quoted !== '') said += `: ${JSON.stringify(quoted)}`
  if (!said.includes('attempted to output null or undefined value') || quoted === undefined) return said
  const names = [...quoted.matchAll(/\{\{-?\s*([A-Za-z_]\w*)/g)].map((match) => match[1]!)
  const unknown = names.filter((name) => !(name in context))
  const none = names.filter((name) => name in context && context[name] === null)
  if (unknown.length > 0) said += ` (no variable ${unknown.join(', ')}; the variables are ${Object.keys(context).join(', ')})`
  else if (none.length > 0) said += ` (${none.join(', ')} is none here; write {{ ${none[0]} or "none" }} to print a word instead)`
  return said
}
