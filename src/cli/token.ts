import { checkToken, readTokenFile } from '../sync/token.ts'

/** The client's token: from `--token-file F`, else the `SNAPSTORE_TOKEN` environment variable, else none. */
export async function clientToken (tokenFile: string | undefined): Promise<string | undefined> {
  if (tokenFile !== undefined) return await readTokenFile(tokenFile)
  const fromEnv = process.env['SNAPSTORE_TOKEN']
  return fromEnv === undefined || fromEnv === '' ? undefined : checkToken(fromEnv.trim(), 'SNAPSTORE_TOKEN environment variable')
}

/** True when a merge source names a server rather than a path. */
export function isUrl (source: string): boolean {
  return /^https?:\/\//i.test(source)
}
