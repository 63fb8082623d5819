import * as assert from 'uvu/assert'
import { ABSENT, BatchReader, MAX_ITEM_PIECES, frameHeader } from '../src/sync/protocol.ts'
import { seededBytes, specSuite } from './_helpers/store.ts'
import type { SnapstoreError } from '../src/index.ts'

/** A batch answer: each item framed by its 4-byte length, ABSENT where it is undefined. */
function answer (items: ReadonlyArray<Uint8Array | undefined>): Buffer {
  return Buffer.concat(items.flatMap((item) => item === undefined ? [frameHeader(ABSENT)] : [frameHeader(item.length), item]))
}

/** Feeds `bytes` to a reader in pieces of `size` bytes, each in a buffer of its own, and returns the pieces. */
function feed (reader: BatchReader, bytes: Buffer, size: number): Buffer[] {
  const pieces: Buffer[] = []
  for (let at = 0; at < bytes.length; at += size) pieces.push(Buffer.from(bytes.subarray(at, at + size)))
  for (const piece of pieces) reader.push(piece)
  return pieces
}

function joined (pieces: readonly Uint8Array[]): Buffer {
  return Buffer.concat(pieces)
}

function expectCorrupt (work: () => unknown, pattern: RegExp): void {
  try {
    work()
  } catch (err) {
    assert.is((err as SnapstoreError).code, 'E_CORRUPT')
    assert.match((err as Error).message, pattern)
    return
  }
  assert.unreachable('no error')
}

const Reader = specSuite('reading a batch answer as it arrives')

Reader('items come back in order, absent ones as undefined, each as views of the pieces it arrived in', () => {
  const items = [seededBytes(100_000, 1), undefined, seededBytes(10, 2), new Uint8Array(0)]
  const reader = new BatchReader('a test')
  const pieces = feed(reader, answer(items), 30_000)
  const read = reader.finish(items.length)
  assert.equal(read.map((item) => item === undefined ? undefined : joined(item)), items.map((item) => item === undefined ? undefined : Buffer.from(item)))
  // The first item spans four pieces and was not copied: each part is a view of a received piece.
  assert.is(read[0]!.length, 4)
  assert.ok(read[0]!.every((part) => pieces.some((piece) => piece.buffer === part.buffer)))
})

Reader('an item that arrives a few bytes at a time is joined into one buffer once it has come in too many pieces', () => {
  const item = seededBytes(5 * MAX_ITEM_PIECES, 3)
  const reader = new BatchReader('a test')
  feed(reader, answer([item, seededBytes(7, 4)]), 3)
  const [first, second] = reader.finish(2)
  assert.is(first!.length, 1, 'one buffer, not a view per piece')
  assert.ok(joined(first!).equals(item))
  assert.ok(joined(second!).equals(seededBytes(7, 4)))
})

Reader('given memory, items are copied into it one after another, each as one buffer, while they fit', () => {
  const items = [seededBytes(70_000, 7), undefined, seededBytes(20_000, 8), seededBytes(50_000, 9)]
  const memory = new Uint8Array(100_000)
  const reader = new BatchReader('a test', memory)
  const pieces = feed(reader, answer(items), 16_384)
  const read = reader.finish(items.length)
  assert.equal(read.map((item) => item === undefined ? undefined : joined(item)), items.map((item) => item === undefined ? undefined : Buffer.from(item)))
  // The first two fit: one buffer each, at the start of the memory and right after; the last does not fit and
  // stays in the pieces it arrived in.
  assert.equal([read[0]!.length, read[2]!.length], [1, 1])
  assert.equal([read[0]![0]!.buffer, read[2]![0]!.buffer], [memory.buffer, memory.buffer])
  assert.equal([read[0]![0]!.byteOffset, read[2]![0]!.byteOffset], [0, 70_000])
  assert.ok(read[3]!.length > 1 && read[3]!.every((part) => pieces.some((piece) => piece.buffer === part.buffer)))
})

Reader('an answer that ends inside an item, or inside a frame header, is E_CORRUPT', () => {
  const bytes = answer([seededBytes(1000, 5)])
  const cutInItem = new BatchReader('a test')
  feed(cutInItem, bytes.subarray(0, 500), 1)
  expectCorrupt(() => cutInItem.finish(1), /ends inside an item/)
  const cutInHeader = new BatchReader('a test')
  feed(cutInHeader, Buffer.concat([bytes, Buffer.from([0, 0])]), 64)
  expectCorrupt(() => cutInHeader.finish(2), /inside a frame header/)
})

Reader('an item that claims more than 16 MiB is E_CORRUPT naming its size, before its bytes are read', () => {
  const reader = new BatchReader('a test')
  expectCorrupt(() => { reader.push(frameHeader(17 * 1024 * 1024)) }, /an item claims 17825792 bytes/)
})

Reader('an answer with fewer or more items than were asked for is E_CORRUPT', () => {
  const reader = new BatchReader('a test')
  reader.push(answer([seededBytes(10, 6), undefined]))
  expectCorrupt(() => reader.finish(3), /2 items where 3 were asked for/)
})

Reader.run()
