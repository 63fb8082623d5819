import { readFile } from 'node:fs/promises'
import nunjucks from 'nunjucks'
import { BadInputError, NotFoundError } from '../errors.ts'

// Jinja2-compatible: the templates users already keep for mdsim and wepy render unchanged.
const environment = new nunjucks.Environment(null, { autoescape: false, throwOnUndefined: true })

/** Renders a Jinja2-style template file with `context`; a template error is `E_BAD_INPUT` naming its line. */
export async function renderTemplate (path: string, context: Record<string, unknown>): Promise<string> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw err.code === 'ENOENT' ? new NotFoundError(`Cannot read template "${path}": no such file`, { cause: err }) : new BadInputError(`Cannot read template "${path}": ${err.message}`, { cause: err })
  })
  try {
    return environment.renderString(text, context)
  } catch (err) {
    const message = (err as Error).message.replace(/\s+/g, ' ').replace(/^\(unknown path\)\s*/, '').trim()
    throw new BadInputError(`Cannot render template "${path}": ${message}`, { cause: err })
  }
}
