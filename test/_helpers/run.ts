import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// Runs the compiled test files under uvu in parallel groups (one per core), passes each group's report
// through, and ends with the plain "N passed, N failed" line that CI systems read whatever the runner.
const root = fileURLToPath(new URL('../../../', import.meta.url))
const uvuBin = join(root, 'node_modules/uvu/bin.js')
const testDir = join(root, 'dist/test')
const pattern = new RegExp(process.argv[2] ?? '\\.test\\.js$')
const files = readdirSync(testDir).filter((name) => name.endsWith('.test.js') && pattern.test(name))
// About how many seconds each file takes on a 2-core machine, to balance the groups; a file not listed
// counts by its size (about 3 KiB a second).
const SECONDS: Record<string, number> = {
  'merge-laws': 38,
  'cli-slurm': 30,
  'merge': 28,
  'cli-sync': 21,
  'cli-merge': 17,
  'cli-errors': 17,
  'cli-run': 15,
  'cli-show-log': 15,
  'cli-crash': 14,
  'cli-get': 14,
  'cli-run-segments': 14,
  'cli-sync-resume': 18,
  'projections': 12,
  'cli-add': 11,
  'merge-crash': 10,
  'cli-verify-reindex': 10,
  'cli-ls': 10,
  'cli-crash-large': 9,
  'cli-import-wepy': 9,
  'sync': 9,
  'runs-ls': 9,
  'cli-run-signals': 9,
  'packs': 8,
  'cli-sync-netns': 8,
  'cli-tag': 8,
  'graph': 8,
  'cli-exports': 7,
  'store-v1': 7,
  'store': 7,
  'cli-verify-sample': 6,
  'cli-sharing': 6,
  'blobs': 6,
  'cli-run-sweep': 6,
  'runs-projection': 5,
  'cli-init': 5,
  'cli-run-jobdir': 4,
  'codec': 3,
  'held-events': 1,
  'cli-https': 3,
  'wepy-import': 3,
  'cli-unreadable': 3,
  'resolve': 2,
  'log': 2,
  'golden': 1,
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
    const child = spawn(process.execPath, [uvuBin, testDir, only], { stdio: ['ignore', 'pipe', 'pipe'] })
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
