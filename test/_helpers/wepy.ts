import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import initSqlJs from 'sql.js'
import { fixturePath } from './store.ts'

/** The wepy orchestrator databases under fixtures/wepy, by short name. */
export const WEPY = {
  root: fixturePath('wepy/root.orch.sqlite'),
  jobA: fixturePath('wepy/jobA.checkpoint.orch.sqlite'),
  jobB: fixturePath('wepy/jobB.checkpoint.orch.sqlite'),
  master: fixturePath('wepy/master.orch.sqlite')
} as const

/** What wepy's own `ls` printed for one database: snapshot and config MD5s, and runs as [start, end]. */
export interface WepyListing {
  snapshots: string[]
  configs: string[]
  runs: Array<[string, string]>
}

/** The listings in fixtures/wepy/expected-listings.txt, by database file name. */
export function expectedListings (): Map<string, WepyListing> {
  const out = new Map<string, WepyListing>()
  let current: WepyListing | undefined
  let section: keyof WepyListing | undefined
  for (const line of readFileSync(fixturePath('wepy/expected-listings.txt'), 'utf8').split('\n')) {
    if (line.startsWith('== ')) {
      current = { snapshots: [], configs: [], runs: [] }
      out.set(line.slice(3), current)
    } else if (line.startsWith('-- ls ')) {
      section = line.slice(6) as keyof WepyListing
    } else if (line !== '' && current !== undefined && section !== undefined) {
      if (section === 'runs') current.runs.push(line.split(', ') as [string, string])
      else current[section].push(line)
    }
  }
  return out
}

/** Builds an SQLite database by running `statements` (each with its bound params) and writes it to `path`. */
export async function writeSqlite (path: string, statements: ReadonlyArray<[string, Array<string | number | Uint8Array>?]>): Promise<string> {
  const SQL = await initSqlJs()
  const db = new SQL.Database()
  try {
    for (const [sql, params] of statements) db.run(sql, params ?? [])
    await writeFile(path, db.export())
  } finally {
    db.close()
  }
  return path
}

/** The tables of a wepy orchestrator database, empty. */
export const WEPY_SCHEMA: ReadonlyArray<[string]> = [
  ['CREATE TABLE runs (start_hash TEXT NOT NULL, end_hash TEXT NOT NULL, config_hash NOT NULL, last_cycle_idx INTEGER NOT NULL, PRIMARY KEY (start_hash, end_hash))'],
  ['CREATE TABLE meta (key PRIMARY KEY, value)'],
  ['CREATE TABLE snapshots (snaphash PRIMARY KEY, snapshot)'],
  ['CREATE TABLE configurations (config_hash PRIMARY KEY, config)']
]
