import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { whyNoSlurm } from './slurm.ts'

// Runs the compiled test files under uvu in parallel groups (one per core), passes each group's report
// through, and ends with the plain "N passed, N failed" line that CI systems read whatever the runner.
const root = fileURLToPath(new URL('../../../', import.meta.url))
const uvuBin = join(root, 'node_modules/uvu/bin.js')
const testDir = join(root, 'dist/test')
const pattern = new RegExp(process.argv[2] ?? '\\.test\\.js$')
const files = readdirSync(testDir).filter((name) => name.endsWith('.test.js') && pattern.test(name))
// About how many seconds each file takes run alone on a 2-core machine, to balance the groups (cli-slurm:
// with a real Slurm, as CI runs it, else skipped); a file not listed counts by its size (about 3 KiB a second).
const SECONDS: Record<string, number> = {
  'cli-slurm': whyNoSlurm() === undefined ? 30 : 3,
  'cli-run-checkpoints': 20,
  'cli-edges': 17,
  'cli-verify-reindex': 16,
  'merge': 14,
  'merge-laws': 13,
  'cli-sync': 12,
  'cli-errors': 12,
  'cli-sync-resume': 10,
  'cli-get': 10,
  'cli-crash': 10,
  'cli-merge': 10,
  'cli-add': 9,
  'cli-interrupt': 7,
  'cli-run-segments': 7,
  'cli-run': 7,
  'wepy-import': 4,
  'blobs': 7,
  'cli-crash-large': 4,
  'sync': 6,
  'graph': 6,
  'cli-show-log': 6,
  'store': 6,
  'cli-import-wepy': 5,
  'cli-ls': 5,
  'store-v2': 5,
  'projections': 5,
  'cli-tag': 5,
  'packs': 5,
  'cli-run-signals': 5,
  'cli-exports': 4,
  'merge-crash': 4,
  'runs-ls': 4,
  'cli-verify-sample': 4,
  'cli-sync-netns': 4,
  'cli-https': 4,
  'cli-sharing': 3,
  'store-v1': 3,
  'log': 3,
  'cli-init': 3,
  'cli-run-sweep': 3,
  'cli-run-jobdir': 2,
  'runs-projection': 2,
  'codec': 2,
  'export-dir': 2,
  'cli-unreadable': 1,
  'resolve': 1,
  'golden': 1,
  'held-events': 1,
  'digest-set': 1,
  'batch-reader': 1,
  'batches': 0
}

// One group more than cores: much of the suite waits on child processes, disks and a scheduler.
const groups = balance(files, Math.max(1, cpus().length + 1))

interface GroupResult { report: string, total: number, passed: number, skipped: number, status: number | null }

const results = await Promise.all(groups.map(async (group) => await runGroup(group)))
let total = 0
let passed = 0
let skipped = 0
let failed = 0
for (const result of results) {
  process.stdout.write(result.report)
  total += result.total
  passed += result.passed
  skipped += result.skipped
  // uvu can exit 0 when its reporter itself throws; a shortfall of passed tests is a failure all the same.
  failed += Math.max(result.status === 0 ? 0 : 1, result.total - result.passed - result.skipped)
}
process.stdout.write(`\ntests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`)
process.exitCode = failed === 0 && total > 0 ? 0 : 1

/** Splits files into groups of about equal time, longest first. */
function balance (names: string[], count: number): string[][] {
  const weightOf = (name: string): number => SECONDS[name.replace(/\.test\.js$/, '')] ?? statSync(join(testDir, name)).size / 3072
  const weighted = names.map((name) => ({ name, weight: weightOf(name) })).sort((a, b) => b.weight - a.weight)
  const buckets = Array.from({ length: count }, () => ({ names: [] as string[], weight: 0 }))
  for (const file of weighted) {
    const lightest = buckets.reduce((a, b) => (b.weight < a.weight ? b : a))
    lightest.names.push(file.name)
    lightest.weight += file.weight
  }
  return buckets.map((b) => b.names).filter((names) => names.length > 0)
}

async function runGroup (names: string[]): Promise<GroupResult> {
  const only = `^(${names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`
  return await new Promise((resolve) => {
    // The groups already keep every core busy: V8's collector threads would only take turns with them
    // (merge.test and merge-laws took 5–10% less time collecting on their own thread, alone).
    // The tests reach no host outside this machine, so no process they start needs the system's CA bundle in
    // NODE_EXTRA_CA_CERTS, which Node parses at every start (40 ms of CPU each, over 600 processes); the tests
    // of it set it themselves.
    const env = { ...process.env }
    delete env['NODE_EXTRA_CA_CERTS']
    const child = spawn(process.execPath, ['--single-threaded-gc', uvuBin, testDir, only], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let report = ''
    child.stdout.on('data', (chunk: Buffer) => { report += chunk.toString('utf8') })
    child.stderr.on('data', (chunk: Buffer) => { report += chunk.toString('utf8') })
    child.on('close', (status) => {
      const plain = report.replace(/\x1b\[[0-9;]*m/g, '')
      const count = (label: string): number => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? 0)
      resolve({ report, total: count('Total'), passed: count('Passed'), skipped: count('Skipped'), status })
    })
  })
}
