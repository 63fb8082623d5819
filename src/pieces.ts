/**
 * Bytes kept as the pieces they arrived in (views of the buffers that carried them) rather than joined
 * into one buffer: joining would copy every byte once more and allocate as much again.
 */
export type Pieces = readonly Uint8Array[]

/** The number of bytes in all the pieces. */
export function piecesLength (pieces: Pieces): number {
  let length = 0
  for (const piece of pieces) length += piece.length
  return length
}
