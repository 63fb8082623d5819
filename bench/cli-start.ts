import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { closeStore, initStore } from '../src/index.ts'
import { CLI, ROOT, check, command, compare, knob, removeDir, runAsMain, tempDir } from './_lib.ts'
import type { Contender, ScenarioResult } from './_lib.ts'

/** A contender that spawns `node ARGS…`, checks its output with `expect`, and measures the child's peak RSS once. */
function nodeRun (name: string, role: Contender['role'], args: string[], expect?: (stdout: string) => boolean): Contender {
  let stdout = ''
  return {
    name,
    role,
    external: true,
    run: async () => { stdout = command(process.execPath, args).stdout.toString() },
    teardown: async (round) => {
      if (expect !== undefined) check(expect(stdout), `node ${args.join(' ')} printed unexpected output: ${stdout.slice(0, 200)}`)
      if (round === 0) command(process.execPath, args, { measureRss: true })
    }
  }
}

/** Start-up time of the CLI as a whole process, beside Node's own start-up and the library's import. */
export async function cliStartScenario (): Promise<ScenarioResult> {
  const n = knob('CLI_RUNS', 10, 3, false)
  const params = { runs: n }
  if (!existsSync(CLI)) {
    return { scenario: 'cli-start', title: 'CLI start-up time', params, setup: {}, checks: [], comparisons: [], notes: [], skipped: `${CLI} does not exist yet (the CLI is built from src/cli)` }
  }
  const dir = await tempDir('cli-start')
  const storePath = join(dir, 'store')
  await closeStore(await initStore(storePath))
  const library = pathToFileURL(join(ROOT, 'dist/src/index.js')).href
  const contenders: Contender[] = [
    nodeRun('node bin.js --help', 'subject', [CLI, '--help'], (out) => /Usage: snapstore/.test(out) && out.includes('init')),
    nodeRun('node bin.js ls snapshots EMPTY_STORE (opens LevelDB)', 'detail', [CLI, 'ls', 'snapshots', storePath], (out) => out === ''),
    nodeRun('node -e "await import(library)" (import cost)', 'detail', ['--input-type=module', '-e', `await import(${JSON.stringify(library)})`]),
    nodeRun('node -e 0', 'reference', ['-e', '0'])
  ]
  // One untimed run of each warms the page cache for node and the modules, as on a machine in use.
  for (const c of contenders) await c.run(0)
  const comparison = await compare(contenders, {
    title: 'start a process and exit',
    rounds: n,
    unit: 's',
    target: { description: 'snapstore --help < 150 ms', value: 0.15, kind: 'max' }
  })
  await removeDir(dir)
  return {
    scenario: 'cli-start',
    title: 'CLI start-up time',
    params,
    setup: {},
    checks: ['--help prints the usage; ls snapshots of an empty store prints nothing and exits 0'],
    comparisons: [comparison],
    notes: []
  }
}

await runAsMain(import.meta.url, cliStartScenario)
