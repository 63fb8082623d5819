import { carTransport, directoryTransport } from './_helpers/merge.ts'
import { mergeLaws } from './laws/merge-laws.ts'

// The same laws over both ways of carrying a history between stores. Each run writes 2 to 4 real
// stores on disk and merges them several times (about 0.15 s), so the run counts stay modest.
mergeLaws(directoryTransport, { numRuns: 15 })
mergeLaws(carTransport, { numRuns: 12 })
