import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { closeStore, initStore } from '../src/index.ts'
import { CLI, ROOT, check, command, compare, knob, removeDir, runAsMain, tempDir } from './_lib.ts'
import type { Contender, ScenarioResult } from './_lib.ts'

/** A contender that spawns `FILE ARGS…` (with `env` added), checks its output with `expect`, and measures the child's peak RSS once. */
function spawned (name: string, role: Contender['role'], file: string, args: string[], options: { env?: NodeJS.ProcessEnv, expect?: (stdout: string) => boolean } = {}): Contender {
  const env = { ...process.env, ...options.env }
  let stdout = ''
  return {
    name,
    role,
    external: true,
    run: async () => { stdout = command(file, args, { env }).stdout.toString() },
    teardown: async (round) => {
      if (options.expect !== undefined) check(options.expect(stdout), `${file} ${args.join(' ')} printed unexpected output: ${stdout.slice(0, 200)}`)
      if (round === 0) command(file, args, { env, measureRss: true })
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
  const usage = (out: string): boolean => /Usage: snapstore/.test(out) && out.includes('init')
  const extraCa = process.env['NODE_EXTRA_CA_CERTS']
  const withoutExtraCa = { NODE_EXTRA_CA_CERTS: undefined }
  const contenders: Contender[] = [
    spawned('snapstore --help (the installed command)', 'subject', CLI, ['--help'], { expect: usage }),
    spawned('snapstore ls snapshots EMPTY_STORE (opens LevelDB)', 'detail', CLI, ['ls', 'snapshots', storePath], { expect: (out) => out === '' }),
    spawned('node bin.js --help (no launcher line)', 'detail', process.execPath, [CLI, '--help'], { expect: usage }),
    spawned('node -e "await import(library)" (import cost)', 'detail', process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(library)})`], { env: withoutExtraCa }),
    spawned('node -e 0', 'reference', process.execPath, ['-e', '0']),
    ...(extraCa === undefined ? [] : [spawned('node -e 0 without NODE_EXTRA_CA_CERTS', 'reference', process.execPath, ['-e', '0'], { env: withoutExtraCa })])
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
    notes: extraCa === undefined
      ? []
      : [`NODE_EXTRA_CA_CERTS is set here (${extraCa}): Node 20 parses that bundle before running any script, in every process that inherits it. The launcher line of the installed command moves it aside and the sync client adds those certificates to https connections only; \`node bin.js\` (no launcher line) pays the parse.`]
  }
}

await runAsMain(import.meta.url, cliStartScenario)
