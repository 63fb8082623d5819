import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

/**
 * The launcher line of the CLI (`#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS SNAPSTORE_DEFERRED_CA_CERTS=… node`) keeps
 * Node 20 from parsing the NODE_EXTRA_CA_CERTS bundle at every start-up (70 ms on a small host, most of a `--help`);
 * this module adds those certificates to the https connections this process makes, and only when it makes one.
 */
const HANDOFF = 'SNAPSTORE_DEFERRED_CA_CERTS'

let deferredFile: string | undefined
let deferredCa: string[] | undefined

/** Takes over the CA bundle the launcher moved aside, and puts NODE_EXTRA_CA_CERTS back for child processes. */
export function adoptDeferredCaCerts (): void {
  const file = process.env[HANDOFF]
  if (file === undefined) return
  delete process.env[HANDOFF]
  if (file === '') return
  process.env['NODE_EXTRA_CA_CERTS'] = file
  deferredFile = file
}

/** The CA list for an https connection: Node's roots plus the deferred bundle, or undefined for Node's own default. */
export function httpsCa (): string[] | undefined {
  if (deferredFile === undefined) return undefined
  if (deferredCa === undefined) {
    let extra: string[] = []
    try {
      extra = [readFileSync(deferredFile, 'utf8')]
    } catch (err) {
      // What Node itself does with a bundle it cannot read: warn once and go on with its own roots.
      process.emitWarning(`Ignoring extra certs from \`${deferredFile}\`, load failed: ${(err as Error).message}`)
    }
    // Required here, not imported above: an ESM import of node:tls reads its root certificates at start-up.
    const { rootCertificates } = createRequire(import.meta.url)('node:tls') as typeof import('node:tls')
    deferredCa = [...rootCertificates, ...extra]
  }
  return deferredCa
}
