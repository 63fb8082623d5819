#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS SNAPSTORE_DEFERRED_CA_CERTS=${NODE_EXTRA_CA_CERTS} node --initial-old-space-size=64 --no-concurrent-marking
// The options after `node` are NODE_FLAGS (node-flags.ts), which the processes snapstore starts itself use too.
// --initial-old-space-size: V8 counts the buffers a socket or file read allocates toward the old generation's
// limit, which for a heap as small as this one's is a few MiB: a pull or serve of 1 GiB marked the whole heap
// about 70 times (a third of the client's CPU, on V8's helper threads); from 64 MiB, a handful of times.
// --no-concurrent-marking: a merge of many events keeps each batch alive while the database writes the one
// before it, and with marking started in the background V8 marked the heap twice a second through the
// writing pass, each young collection during it about four times as long (300,000 events: 25k → 32k events/s).
import { adoptDeferredCaCerts } from '../sync/extra-ca.ts'
import { main } from './main.ts'
import { reportError } from './report-error.ts'

adoptDeferredCaCerts()

// A reader that goes away (`snapstore ls … | head`) is not an error; standard output that cannot be
// written (a full disk) is, reported as one line like any other.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  process.exit(err.code === 'EPIPE' ? 0 : reportError(err))
})

process.exitCode = await main(process.argv.slice(2))
