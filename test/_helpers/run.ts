import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

// Runs every compiled test file under uvu, passes its report through, and ends with the plain
// "N passed, N failed" line that CI systems read whatever the test runner.
const uvuBin = join(dirname(createRequire(import.meta.url).resolve('uvu/package.json')), 'bin.js')
const pattern = process.argv[2] ?? '\\.test\\.js$'
const child = spawn(process.execPath, [uvuBin, 'dist/test', pattern], { stdio: ['ignore', 'pipe', 'inherit'] })
let report = ''
child.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk)
  report += chunk.toString('utf8')
})
child.on('close', (status) => {
  const plain = report.replace(/\x1b\[[0-9;]*m/g, '')
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0)
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0)
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0)
  // uvu can exit 0 when its reporter itself throws; a shortfall of passed tests is a failure all the same.
  const failed = Math.max(status === 0 ? 0 : 1, total - passed - skipped)
  process.stdout.write(`\ntests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`)
  process.exitCode = failed === 0 && total > 0 ? 0 : 1
})
