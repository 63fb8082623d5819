import { fileURLToPath } from 'node:url'
import { NODE_FLAGS } from '../cli/node-flags.ts'
import type { SegmentSpec } from './segment.ts'

/** The arguments of `snapstore run STORE --job-dir DIR …` (before `--`) that record a segment as `spec` describes it. */
export function runArgs (store: string, jobDir: string, spec: Omit<SegmentSpec, 'store' | 'command'>): string[] {
  const args = ['run', store, '--job-dir', jobDir]
  if (spec.from !== undefined) args.push('--from', spec.from.toString())
  if (spec.config !== undefined) args.push('--config', spec.config.toString())
  for (const [name, value] of Object.entries(spec.params)) args.push('--param', `${name}=${String(value)}`)
  if (spec.seed !== undefined) args.push('--seed', spec.seed)
  if (spec.label !== undefined) args.push('--label', spec.label)
  if (spec.force === true) args.push('--force')
  return args
}

/** The command line that runs this very snapstore build on a node: the same node binary, options and CLI script. */
export function snapstoreCommand (...args: string[]): string[] {
  return [process.execPath, ...NODE_FLAGS, fileURLToPath(new URL('../cli/bin.js', import.meta.url)), ...args]
}
