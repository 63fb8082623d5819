import type { SublevelName } from './store.ts'

/** One write of a batch, addressed to a sublevel by name so that pure code can build it. */
export type Op =
  | { type: 'put', sublevel: SublevelName, key: string, value: Uint8Array }
  | { type: 'del', sublevel: SublevelName, key: string }

/** Read access to projection state, as seen by the pure functions that update it. */
export interface StateReader {
  get: (sublevel: SublevelName, key: string) => Uint8Array | undefined
}

/** Projection state held in memory: prefetched values with pending writes laid over them. */
export class StateOverlay implements StateReader {
  readonly #values = new Map<string, Uint8Array | null>()

  /** The value at `key` in `sublevel`, or undefined when absent or deleted. */
  get (sublevel: SublevelName, key: string): Uint8Array | undefined {
    return this.#values.get(slot(sublevel, key)) ?? undefined
  }

  /** True when the overlay already knows the value (or the absence) at the key. */
  knows (sublevel: SublevelName, key: string): boolean {
    return this.#values.has(slot(sublevel, key))
  }

  /** Records a value read from the database, or its absence. */
  seed (sublevel: SublevelName, key: string, value: Uint8Array | undefined): void {
    this.#values.set(slot(sublevel, key), value ?? null)
  }

  /** Lays a batch's writes over the state, so later events of the batch see them. */
  apply (ops: readonly Op[]): void {
    for (const op of ops) this.#values.set(slot(op.sublevel, op.key), op.type === 'put' ? op.value : null)
  }

  /** Every key the overlay holds a value for, as [sublevel, key, value]; deletions are skipped. */
  * entries (): Generator<[SublevelName, string, Uint8Array]> {
    for (const [at, value] of this.#values) {
      if (value === null) continue
      const split = at.indexOf('\0')
      yield [at.slice(0, split) as SublevelName, at.slice(split + 1), value]
    }
  }
}

function slot (sublevel: SublevelName, key: string): string {
  return `${sublevel}\0${key}`
}
