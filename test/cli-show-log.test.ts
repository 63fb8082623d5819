import { setTimeout as sleep } from 'node:timers/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { addBlob, setTag } from '../src/index.ts'
import { distinctChunkBytes } from './_helpers/store.ts'

const MiB = 1024 * 1024
import { cliContext, digestOf, expectError, expectOk, jsonLines, lines, noise, seed, snap, withLibrary } from './_helpers/cli.ts'
import type { CliContext } from './_helpers/cli.ts'

const LOG_LINE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) (\d+) ([0-9a-f]{32}):(\d+) (blob\.add|tag\.set|run\.start|run\.checkpoint|run\.end|run\.fail) (.+)$/

/** Two columns, `key  value`, as `show` prints them; keys are unique. */
function table (text: string): Map<string, string> {
  const rows = new Map<string, string>()
  for (const line of lines(text)) {
    const match = /^(\S+)\s{2,}(.*)$/.exec(line)
    assert.ok(match !== null, `not a "key  value" row: ${line}`)
    rows.set(match[1]!, match[2]!)
  }
  return rows
}

// ---------------------------------------------------------------- show

const Show = suite<CliContext>('cli show', {} as CliContext)
Show.before.each(async (ctx) => { Object.assign(ctx, await cliContext()) })
Show.after.each(async (ctx) => { await ctx.dispose() })

Show('show STORE prints the totals: events, blobs, logical and stored bytes, dedup ratio', async ({ store }) => {
  // Two 2 MiB blobs that share their first MiB: the chunks before the first that differs are kept once.
  const shared = noise(MiB, 'shared')
  const a = Buffer.concat([shared, noise(MiB, 'a')])
  const b = Buffer.concat([shared, noise(MiB, 'b')])
  const stored = distinctChunkBytes([a, b])
  assert.ok(stored < 3.5 * MiB, 'most of the shared MiB is shared')
  await seed(store, [{ kind: 'snapshot', content: a }, { kind: 'snapshot', content: b, options: { tag: 'b' } }])
  const origin = await withLibrary(store, async (s) => s.origin)
  const run = await snap(['show', store])
  expectOk(run)
  const rows = table(run.stdout)
  assert.is(rows.get('origin'), origin)
  assert.is(rows.get('origins'), '1')
  assert.is(rows.get('events'), '3')
  assert.is(rows.get('blobs'), '2')
  assert.match(rows.get('logical') ?? '', `(${4 * MiB} bytes)`)
  assert.match(rows.get('stored') ?? '', `(${stored} bytes)`)
  assert.is(rows.get('dedup'), `${(4 * MiB / stored).toFixed(2)}x`)

  const json = await snap(['show', store, '--json'])
  expectOk(json)
  const [totals, ...rest] = jsonLines(json.stdout)
  assert.is(rest.length, 0)
  assert.equal([totals?.['origin'], totals?.['origins'], totals?.['events'], totals?.['blobs'], totals?.['logicalBytes'], totals?.['storedBytes']],
    [origin, 1, 3, 2, 4 * MiB, stored])
  assert.ok(Math.abs(Number(totals?.['dedupRatio']) - 4 * MiB / stored) < 1e-9)
})

Show('show STORE of an empty store prints zero totals', async ({ store }) => {
  const run = await snap(['show', store])
  expectOk(run)
  const rows = table(run.stdout)
  assert.equal([rows.get('events'), rows.get('blobs'), rows.get('dedup')], ['0', '0', '1.00x'])
})

Show('show STORE ID describes a blob: id, sha256, kinds, size, name, meta and tags', async ({ store }) => {
  const [id] = await seed(store, [{ kind: 'config', content: 'a config\n', options: { name: 'base', meta: { temp: '300' }, tag: 'cfg' } }])
  const run = await snap(['show', store, 'cfg'])
  expectOk(run)
  const rows = table(run.stdout)
  assert.is(rows.get('blob'), id)
  assert.is(rows.get('sha256'), digestOf(id!))
  assert.is(rows.get('kinds'), 'config')
  assert.is(rows.get('size'), '9 bytes (9 bytes)')
  assert.is(rows.get('name'), 'base')
  assert.is(rows.get('meta.temp'), '300')
  assert.is(rows.get('tags'), 'cfg')

  const json = await snap(['show', store, digestOf(id!).slice(0, 8), '--json'])
  expectOk(json)
  const [item, ...rest] = jsonLines(json.stdout)
  assert.is(rest.length, 0)
  assert.equal([item?.['item'], item?.['id'], item?.['sha256'], item?.['size'], item?.['kinds'], item?.['name'], item?.['meta'], item?.['tags']],
    ['blob', id, digestOf(id!), 9, ['config'], 'base', { temp: '300' }, ['cfg']])
})

Show('show STORE ID describes an event taken from log --json', async ({ store }) => {
  const [id] = await seed(store, [{ kind: 'snapshot', content: 'state\n' }, { kind: 'blob', content: 'other\n' }])
  const log = await snap(['log', store, '--json'])
  expectOk(log)
  const [first, second] = jsonLines(log.stdout)
  const eventId = String(second?.['id'])
  assert.match(eventId, /^bafyrei[a-z2-7]{52}$/)

  const run = await snap(['show', store, eventId])
  expectOk(run)
  const rows = table(run.stdout)
  assert.is(rows.get('event'), eventId)
  assert.is(rows.get('type'), 'blob.add')
  assert.is(rows.get('origin'), `${String(second?.['origin'])}:2`)
  assert.is(rows.get('clock'), '2')
  assert.is(rows.get('prev'), String(first?.['id']))
  assert.match(rows.get('time') ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)

  const json = await snap(['show', store, String(first?.['id']), '--json'])
  expectOk(json)
  const [item] = jsonLines(json.stdout)
  assert.equal([item?.['item'], item?.['id'], item?.['type'], item?.['seq'], item?.['prev']], ['event', first?.['id'], 'blob.add', 1, null])
  assert.is((item?.['body'] as Record<string, unknown>)['blob'], id)
})

Show('show STORE ID of an unknown id fails with E_NOT_FOUND', async ({ store }) => {
  expectError(await snap(['show', store, 'bafyreia34egg2jyjn7gestgmlesduqlxbyg5j4o2ftx5rmqja3hp5de6ea']), 'E_NOT_FOUND')
})

Show.run()

// ---------------------------------------------------------------- log

interface LogCtx extends CliContext {
  origin: string
  /** Event times in ms, in log order. */
  times: number[]
  ids: string[]
}

const Log = suite<LogCtx>('cli log', {} as LogCtx)
Log.before.each(async (ctx) => {
  Object.assign(ctx, await cliContext())
  // Five events with distinct times: blob.add ×3, tag.set, blob.add.
  await withLibrary(ctx.store, async (s) => {
    ctx.origin = s.origin
    ctx.times = []
    ctx.ids = []
    const record = async (events: Array<{ event: { time: number } }>): Promise<void> => {
      for (const e of events) ctx.times.push(e.event.time)
      await sleep(5)
    }
    for (const [kind, content] of [['snapshot', 'one'], ['config', 'two'], ['snapshot', 'three']] as const) {
      const added = await addBlob(s, kind, new TextEncoder().encode(content), { name: content })
      ctx.ids.push(added.id.toString())
      await record(added.events)
    }
    const tag = await setTag(s, 'best', ctx.ids[0]!)
    await record(tag === undefined ? [] : [tag])
    const added = await addBlob(s, 'blob', new TextEncoder().encode('four'))
    ctx.ids.push(added.id.toString())
    await record(added.events)
  })
})
Log.after.each(async (ctx) => { await ctx.dispose() })

Log('log prints one line per event: time clock origin:seq type summary, in total order', async ({ store, origin, times, ids }) => {
  const run = await snap(['log', store])
  expectOk(run)
  const parsed = lines(run.stdout).map((line) => {
    const match = LOG_LINE.exec(line)
    assert.ok(match !== null, `not a log line: ${line}`)
    return { time: match[1]!, clock: Number(match[2]), origin: match[3]!, seq: Number(match[4]), type: match[5]!, summary: match[6]! }
  })
  assert.equal(parsed.map((p) => [p.time, p.clock, p.origin, p.seq, p.type]), [
    [new Date(times[0]!).toISOString(), 1, origin, 1, 'blob.add'],
    [new Date(times[1]!).toISOString(), 2, origin, 2, 'blob.add'],
    [new Date(times[2]!).toISOString(), 3, origin, 3, 'blob.add'],
    [new Date(times[3]!).toISOString(), 4, origin, 4, 'tag.set'],
    [new Date(times[4]!).toISOString(), 5, origin, 5, 'blob.add']
  ])
  assert.ok(parsed[0]!.summary.includes(ids[0]!), parsed[0]!.summary)
  assert.ok(parsed[1]!.summary.startsWith('config '), parsed[1]!.summary)
  assert.ok(parsed[3]!.summary.includes('best') && parsed[3]!.summary.includes(ids[0]!), parsed[3]!.summary)
})

Log('log --type keeps only events of that type', async ({ store, origin, ids }) => {
  const run = await snap(['log', store, '--type', 'tag.set'])
  expectOk(run)
  const only = lines(run.stdout)
  assert.is(only.length, 1)
  assert.match(only[0]!, ` 4 ${origin}:4 tag.set `)
  assert.ok(only[0]!.includes(ids[0]!))
})

Log('log --type of an unknown type fails with E_USAGE', async ({ store }) => {
  expectError(await snap(['log', store, '--type', 'blob.remove']), 'E_USAGE')
})

Log('log --origin keeps only events of that origin', async ({ store, origin }) => {
  const own = await snap(['log', store, '--origin', origin.toUpperCase()])
  expectOk(own)
  assert.is(lines(own.stdout).length, 5)
  expectOk(await snap(['log', store, '--origin', 'f'.repeat(32)]), '')
})

Log('log --limit N prints the first N events', async ({ store, origin }) => {
  const run = await snap(['log', store, '--limit', '2'])
  expectOk(run)
  assert.equal(lines(run.stdout).map((line) => LOG_LINE.exec(line)?.[4]), ['1', '2'])
  assert.ok(lines(run.stdout).every((line) => line.includes(` ${origin}:`)))
})

Log('log --limit that is not a non-negative integer fails with E_BAD_INPUT', async ({ store }) => {
  expectError(await snap(['log', store, '--limit', 'two']), 'E_BAD_INPUT')
})

Log('log --since keeps events at or after the time, and a future time gives nothing', async ({ store, times }) => {
  const from = await snap(['log', store, '--since', new Date(times[3]!).toISOString()])
  expectOk(from)
  assert.equal(lines(from.stdout).map((line) => LOG_LINE.exec(line)?.[4]), ['4', '5'])
  expectOk(await snap(['log', store, '--since', '2999-01-01T00:00:00Z']), '')
})

Log('log --since of an invalid time fails with E_BAD_INPUT', async ({ store }) => {
  expectError(await snap(['log', store, '--since', 'yesterday-ish']), 'E_BAD_INPUT')
})

Log('log --json prints one event object per line, each naming the previous one', async ({ store, origin, times, ids }) => {
  const run = await snap(['log', store, '--json'])
  expectOk(run)
  const events = jsonLines(run.stdout)
  assert.equal(events.map((e) => [e['type'], e['origin'], e['seq'], e['clock'], e['time']]), [
    ['blob.add', origin, 1, 1, times[0]],
    ['blob.add', origin, 2, 2, times[1]],
    ['blob.add', origin, 3, 3, times[2]],
    ['tag.set', origin, 4, 4, times[3]],
    ['blob.add', origin, 5, 5, times[4]]
  ])
  events.forEach((e, i) => {
    assert.match(String(e['id']), /^bafyrei[a-z2-7]{52}$/)
    assert.is(e['prev'], i === 0 ? null : events[i - 1]!['id'])
  })
  assert.equal(events[0]!['body'], { blob: ids[0], kind: 'snapshot', name: 'one', size: 3 })
  assert.equal(events[3]!['body'], { name: 'best', target: ids[0] })
})

Log.run()
