import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { iterateLog, setTag } from '../src/index.ts'
import { cliContext, digestOf, dumpStore, expectError, expectOk, jsonLines, seed, snap, withLibrary } from './_helpers/cli.ts'
import type { CliContext } from './_helpers/cli.ts'

interface Ctx extends CliContext {
  a: string
  b: string
}

const Tag = suite<Ctx>('cli tag', {} as Ctx)
Tag.before.each(async (ctx) => {
  Object.assign(ctx, await cliContext())
  const [a, b] = await seed(ctx.store, [{ kind: 'snapshot', content: 'state a\n' }, { kind: 'config', content: 'config b\n' }])
  ctx.a = a!
  ctx.b = b!
})
Tag.after.each(async (ctx) => { await ctx.dispose() })

async function eventCount (path: string): Promise<number> {
  return await withLibrary(path, async (store) => {
    let n = 0
    for await (const event of iterateLog(store)) { void event; n++ }
    return n
  })
}

Tag('tag STORE NAME ID prints nothing, exits 0, and ls tags then shows it', async ({ store, a }) => {
  expectOk(await snap(['tag', store, 'best', a]), '')
  expectOk(await snap(['ls', 'tags', store]), `best\t${a}\n`)
})

Tag('retagging moves the tag to the new target', async ({ store, a, b }) => {
  await withLibrary(store, async (s) => { await setTag(s, 'best', a) })
  expectOk(await snap(['tag', store, 'best', b]), '')
  expectOk(await snap(['ls', 'tags', store]), `best\t${b}\n`)
  assert.is(await eventCount(store), 4)
})

Tag('tag resolves its target by digest prefix and by another tag name', async ({ store, a, b }) => {
  expectOk(await snap(['tag', store, 'by-digest', digestOf(b).slice(0, 8)]), '')
  await withLibrary(store, async (s) => { await setTag(s, 'first', a) })
  expectOk(await snap(['tag', store, 'copy', 'first']), '')
  const tags = await snap(['ls', 'tags', store, '--json'])
  expectOk(tags)
  const targets = Object.fromEntries(jsonLines(tags.stdout).map((r) => [r['name'], r['id']]))
  assert.equal(targets, { 'by-digest': b, copy: a, first: a })
})

Tag('tag can point at a run, by the id ls runs prints', async ({ store }) => {
  expectOk(await snap(['run', store, '--', 'sh', '-c', 'echo done > "$SNAPSTORE_OUTPUT"']))
  const run = (await snap(['ls', 'runs', store])).stdout.trim()
  expectOk(await snap(['tag', store, 'production', run]), '')
  expectOk(await snap(['ls', 'tags', store]), `production\t${run}\n`)
})

Tag('tag of an event that is not a run fails with E_BAD_INPUT and records nothing', async ({ store }) => {
  const event = await withLibrary(store, async (s) => {
    for await (const stored of iterateLog(s)) return stored.id.toString()
    throw new Error('no event')
  })
  const before = await dumpStore(store)
  const run = await snap(['tag', store, 'start', event])
  expectError(run, 'E_BAD_INPUT')
  assert.match(run.stderr, /a blob\.add event/)
  assert.equal(await dumpStore(store), before)
})

Tag('tagging a target the tag already points at records nothing', async ({ store, a }) => {
  await withLibrary(store, async (s) => { await setTag(s, 'best', a) })
  const before = await dumpStore(store)
  expectOk(await snap(['tag', store, 'best', a]), '')
  assert.equal(await dumpStore(store), before)
})

Tag('tag --json says whether the tag changed', async ({ store, a }) => {
  const run = await snap(['tag', store, 'best', a, '--json'])
  expectOk(run)
  const [record, ...rest] = jsonLines(run.stdout)
  assert.is(rest.length, 0)
  assert.is(record?.['name'], 'best')
  assert.is(record?.['changed'], true)
  assert.match(String(record?.['event']), /^bafyrei[a-z2-7]{52}$/)
})

Tag('tag of an unknown id fails with E_NOT_FOUND and records nothing', async ({ store }) => {
  const before = await dumpStore(store)
  expectError(await snap(['tag', store, 'best', 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku']), 'E_NOT_FOUND')
  assert.equal(await dumpStore(store), before)
})

Tag('tag with a name containing a space fails with E_BAD_INPUT and records nothing', async ({ store, a }) => {
  const before = await dumpStore(store)
  expectError(await snap(['tag', store, 'two words', a]), 'E_BAD_INPUT')
  assert.equal(await dumpStore(store), before)
})

Tag.run()
