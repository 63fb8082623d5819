import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { DigestSet } from '../src/digest-set.ts'

const Digests = suite('a compact set of sha-256 digests')

const digest = (n: number): Buffer => createHash('sha256').update(String(n)).digest()

Digests('a digest set agrees with a Set of hex strings over any adds and lookups', () => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 3000 })), { maxLength: 6000 }), (steps) => {
    const set = new DigestSet()
    const model = new Set<string>()
    for (const [adding, n] of steps) {
      const hex = digest(n).toString('hex')
      if (adding) assert.is(set.add(digest(n)), !model.has(hex), `add ${n}`)
      else assert.is(set.has(digest(n)), model.has(hex), `has ${n}`)
      if (adding) model.add(hex)
    }
    assert.is(set.size, model.size)
  }), { numRuns: 30 })
})

Digests('a digest set keeps 100,000 digests across its growth, and finds none it was not given', () => {
  const set = new DigestSet()
  for (let i = 0; i < 100_000; i++) set.add(digest(i))
  assert.is(set.size, 100_000)
  for (let i = 0; i < 100_000; i += 997) assert.ok(set.has(digest(i)), `holds ${i}`)
  for (let i = 100_000; i < 101_000; i++) assert.not.ok(set.has(digest(i)), `lacks ${i}`)
})

Digests('digests that share their first bytes are told apart', () => {
  const set = new DigestSet()
  const a = Buffer.alloc(32, 7)
  const b = Buffer.from(a)
  b[31] = 8
  set.add(a)
  assert.ok(set.has(a))
  assert.not.ok(set.has(b))
  assert.ok(set.add(b))
  assert.is(set.size, 2)
})

Digests('a value that is not 32 bytes is refused, and never found', () => {
  const set = new DigestSet()
  assert.throws(() => set.add(new Uint8Array(31)), /32 bytes/)
  set.add(digest(1))
  assert.not.ok(set.has(Buffer.concat([digest(1), digest(2)])), 'a longer value that starts with a held digest')
  assert.not.ok(set.has(digest(1).subarray(0, 31)))
})

Digests.run()
