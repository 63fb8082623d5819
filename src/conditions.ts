import { BadInputError } from './errors.ts'
import type { Value } from './types.ts'

/** What a condition looks at: a run's params, or a blob's metadata. */
export type ConditionField = 'params' | 'meta'

/** A condition on a run's params or a blob's metadata: `params.NAME OP VALUE` or `meta.NAME OP VALUE`. */
export interface ParamCondition {
  /** @default 'params' */
  field?: ConditionField
  name: string
  op: '=' | '!=' | '<' | '<=' | '>' | '>='
  value: string
}

const CONDITION = /^(params|meta)\.([^\s=!<>]+)\s*(=|!=|<=|>=|<|>)\s*(.*)$/

/** Parses `FIELD.NAME OP VALUE` for the given field (`params` for runs, `meta` for blobs); anything else is `E_BAD_INPUT`. */
export function parseCondition (text: string, field: ConditionField = 'params'): ParamCondition {
  const match = CONDITION.exec(text.trim())
  if (match === null || match[1] !== field) throw new BadInputError(`Invalid --where "${text}": expected ${field}.NAME OP VALUE with OP one of = != < <= > >=`)
  return { field, name: match[2]!, op: match[3] as ParamCondition['op'], value: match[4]!.trim() }
}

/** True when every condition holds on the values (a run's params or a blob's metadata); an absent name satisfies only `!=`. */
export function conditionsHold (values: Readonly<Record<string, Value>>, conditions: readonly ParamCondition[]): boolean {
  return conditions.every((condition) => holds(values[condition.name], condition))
}

function holds (actual: Value | undefined, { field, op, value }: ParamCondition): boolean {
  if (actual === undefined) return op === '!='
  const wanted = Number(value)
  // Params keep their types; metadata is all text, so a number written as text compares as a number.
  const number = typeof actual === 'number' || (field === 'meta' && typeof actual === 'string' && actual.trim() !== '' && Number.isFinite(Number(actual)))
  const numeric = number && value !== '' && Number.isFinite(wanted)
  const order = numeric ? Math.sign(Number(actual) - wanted) : compareText(String(actual), value)
  switch (op) {
    case '=': return order === 0
    case '!=': return order !== 0
    case '<': return order < 0
    case '<=': return order <= 0
    case '>': return order > 0
    case '>=': return order >= 0
  }
}

function compareText (a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1
}
