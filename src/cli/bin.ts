#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS SNAPSTORE_DEFERRED_CA_CERTS=${NODE_EXTRA_CA_CERTS} node
import { adoptDeferredCaCerts } from '../sync/extra-ca.ts'
import { main } from './main.ts'

adoptDeferredCaCerts()

// A reader that goes away (`snapstore ls … | head`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0)
  throw err
})

process.exitCode = await main(process.argv.slice(2))
