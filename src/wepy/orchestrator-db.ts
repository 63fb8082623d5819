import { createHash } from 'node:crypto'
import { open, readFile, realpath, stat } from 'node:fs/promises'
import { BadInputError, NotFoundError, isSnapstoreError } from '../errors.ts'
import type { Database, SqlJsStatic, SqlValue } from 'sql.js'

/** A snapshot or configuration row: the stored bytes, exactly, and the wepy MD5 of them. */
export interface WepyBlobRow {
  md5: string
  bytes: Uint8Array
}

/** A run row: from one snapshot to another with one configuration, up to a cycle. */
export interface WepyRunRow {
  start: string
  end: string
  config: string
  lastCycle: number
}

/** A row of the meta table: a key and its value as stored (text, or bytes such as a pickle). */
export interface WepyMetaRow {
  key: string
  value: string | Uint8Array
}

/** Everything a wepy orchestrator database holds, in MD5 order; every snapshot's and configuration's MD5 is checked against its bytes. */
export interface WepyOrchestrator {
  snapshots: WepyBlobRow[]
  configs: WepyBlobRow[]
  runs: WepyRunRow[]
  meta: WepyMetaRow[]
}

const TABLES = {
  snapshots: ['snaphash', 'snapshot'],
  configurations: ['config_hash', 'config'],
  runs: ['start_hash', 'end_hash', 'config_hash', 'last_cycle_idx'],
  meta: ['key', 'value']
} as const

// The SQLite engine (WebAssembly) is loaded and compiled once per process, on first use: a program that
// never imports a wepy database never loads it.
let sqlite: Promise<SqlJsStatic> | undefined

/** Reads a wepy orchestrator database (SQLite) whole; `E_BAD_INPUT` for anything else, or for rows that do not hold together. */
export async function readOrchestrator (path: string): Promise<WepyOrchestrator> {
  const file = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotFoundError(`Cannot import "${path}": no such file`, { cause: err })
    throw new BadInputError(`Cannot import "${path}": ${err.code === 'EISDIR' ? 'it is a directory, not a file' : err.message}`, { cause: err })
  })
  await refuseUnfinishedWrites(path)
  sqlite ??= import('sql.js').then(async ({ default: initSqlJs }) => await initSqlJs())
  const SQL = await sqlite
  let db: Database
  try {
    db = new SQL.Database(file)
  } catch (err) {
    throw new BadInputError(`Cannot import "${path}": not an SQLite database`, { cause: err })
  }
  try {
    checkSchema(db, path)
    // A row repeated in the database (wepy's tables have no unique keys) is one snapshot, configuration or run.
    return {
      snapshots: once(select(db, 'SELECT snaphash, snapshot FROM snapshots ORDER BY snaphash').map((row) => blobRow(row, 'snapshot', path)), (row) => row.md5),
      configs: once(select(db, 'SELECT config_hash, config FROM configurations ORDER BY config_hash').map((row) => blobRow(row, 'configuration', path)), (row) => row.md5),
      runs: onceRuns(select(db, 'SELECT start_hash, end_hash, config_hash, last_cycle_idx FROM runs ORDER BY start_hash, end_hash, config_hash, last_cycle_idx').map((row) => runRow(row, path)), path),
      meta: select(db, 'SELECT key, value FROM meta ORDER BY key').flatMap((row) => metaRow(row))
    }
  } catch (err) {
    if (isSnapstoreError(err)) throw err
    throw new BadInputError(`Cannot import "${path}": the database is damaged (${(err as Error).message})`, { cause: err })
  } finally {
    db.close()
  }
}

/**
 * Refuses a database with changes still in files beside it: a write-ahead log (`-wal`) or a rollback journal
 * (`-journal`) that SQLite has not yet folded into the file. Read alone, the file lacks them.
 */
async function refuseUnfinishedWrites (path: string): Promise<void> {
  const unfinished = [
    { suffix: '-wal', what: 'a write-ahead log', pending: nonEmpty, remedy: `sqlite3 "${path}" "PRAGMA wal_checkpoint(TRUNCATE)"` },
    { suffix: '-journal', what: 'a rollback journal', pending: hotJournal, remedy: `sqlite3 "${path}" "SELECT count(*) FROM runs" (which rolls the unfinished change back)` }
  ]
  // SQLite keeps these beside the database file itself, not beside a link to it.
  const file = await realpath(path).catch(() => path)
  for (const { suffix, what, pending, remedy } of unfinished) {
    const beside = `${file}${suffix}`
    if (await pending(beside)) {
      throw new BadInputError(`Cannot import "${path}": it has changes in "${beside}" (${what}) not yet written into it; let the program using it finish, or run: ${remedy}`)
    }
  }
}

async function nonEmpty (path: string): Promise<boolean> {
  return await stat(path).then((info) => info.size > 0, () => false)
}

/** True for a rollback journal that holds a change to roll back: one that starts with SQLite's journal header (a journal kept in PERSIST mode has it zeroed). */
async function hotJournal (path: string): Promise<boolean> {
  const handle = await open(path, 'r').catch(() => undefined)
  if (handle === undefined) return false
  try {
    const head = Buffer.alloc(JOURNAL_MAGIC.length)
    const { bytesRead } = await handle.read(head, 0, head.length, 0)
    return bytesRead === head.length && head.equals(JOURNAL_MAGIC)
  } finally {
    await handle.close()
  }
}

const JOURNAL_MAGIC = Buffer.from('d9d505f920a163d7', 'hex')

/** Each run once; rows of one run (start, end, config) that disagree on its last cycle index are refused. */
function onceRuns (rows: readonly WepyRunRow[], path: string): WepyRunRow[] {
  const cycles = new Map<string, number>()
  return rows.filter((row) => {
    const key = `${row.start}:${row.end}:${row.config}`
    const cycle = cycles.get(key)
    if (cycle === undefined) {
      cycles.set(key, row.lastCycle)
      return true
    }
    if (cycle !== row.lastCycle) throw new BadInputError(`Cannot import "${path}": run ${row.start} → ${row.end} is listed twice, with last cycle indexes ${cycle} and ${row.lastCycle}`)
    return false
  })
}

/** The items whose key was not seen before, in order. */
function once<T> (items: readonly T[], keyOf: (item: T) => string): T[] {
  const seen = new Set<string>()
  return items.filter((item) => {
    const key = keyOf(item)
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

function checkSchema (db: Database, path: string): void {
  let columns: Map<string, Set<string>>
  try {
    const rows = select(db, "SELECT m.name, p.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p WHERE m.type = 'table'")
    columns = new Map()
    for (const [table, column] of rows) columns.set(String(table), (columns.get(String(table)) ?? new Set()).add(String(column)))
  } catch (err) {
    throw new BadInputError(`Cannot import "${path}": not an SQLite database`, { cause: err })
  }
  for (const [table, wanted] of Object.entries(TABLES)) {
    const missing = wanted.filter((column) => columns.get(table)?.has(column) !== true)
    if (missing.length > 0) {
      throw new BadInputError(`Cannot import "${path}": not a wepy orchestrator database (${columns.has(table) ? `table "${table}" lacks ${missing.join(', ')}` : `no table "${table}"`})`)
    }
  }
}

function select (db: Database, sql: string): SqlValue[][] {
  return db.exec(sql)[0]?.values ?? []
}

function blobRow ([hash, value]: SqlValue[], what: string, path: string): WepyBlobRow {
  const md5 = String(hash)
  const bytes = value instanceof Uint8Array ? value : typeof value === 'string' ? new TextEncoder().encode(value) : undefined
  if (bytes === undefined) throw new BadInputError(`Cannot import "${path}": ${what} ${md5} has no stored bytes`)
  const computed = createHash('md5').update(bytes).digest('hex')
  if (computed !== md5) throw new BadInputError(`Cannot import "${path}": ${what} ${md5} does not match its bytes (their MD5 is ${computed})`)
  return { md5, bytes }
}

function runRow ([start, end, config, cycle]: SqlValue[], path: string): WepyRunRow {
  // Number(null) and Number('') are 0: only a number, or digits, is a cycle index.
  const lastCycle = typeof cycle === 'number' ? cycle : typeof cycle === 'string' && /^\s*\d+\s*$/.test(cycle) ? Number(cycle) : NaN
  if (!Number.isSafeInteger(lastCycle) || lastCycle < 0) throw new BadInputError(`Cannot import "${path}": run ${String(start)} → ${String(end)} has last cycle index ${String(cycle)}, not a whole number`)
  return { start: String(start), end: String(end), config: String(config), lastCycle }
}

function metaRow ([key, value]: SqlValue[]): WepyMetaRow[] {
  if (value === null || value === undefined) return []
  return [{ key: String(key), value: value instanceof Uint8Array ? value : String(value) }]
}
