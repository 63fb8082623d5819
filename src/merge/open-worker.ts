import { parentPort } from 'node:worker_threads'
import { openPage, transferablesOf } from './opened-page.ts'
import type { PageToOpen } from './opened-page.ts'

// Opens pages of a merge's incoming events (decoding, checking and hashing them) beside the thread that
// reads them and checks their references; every page comes back with its memory and what was found.
const port = parentPort!
port.on('message', (page: PageToOpen) => {
  const opened = openPage(page)
  port.postMessage(opened, transferablesOf(opened))
})
