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

/** A decimal number as text: `300`, `2.0`, `-1e-6`, not `007`, `0x10` or `''`. */
export const DECIMAL = /^-?(0|[1-9]\d*|\d*\.\d+|[1-9]\d*\.\d*|0\.\d*)([eE][-+]?\d+)?$/

/** Parses `FIELD.NAME OP VALUE` for the given field (`params` for runs, `meta` for blobs); anything else is `E_BAD_INPUT`. */
export function parseCondition (text: string, field: ConditionField = 'params'): ParamCondition {
  const match = CONDITION.exec(text.trim())
  const value = match?.[4]?.trim() ?? ''
  // An operator mistyped (<>, ==, =>) leaves its second character at the start of the value.
  if (match === null || match[1] !== field || value === '' || /^[=!<>]/.test(value)) {
    throw new BadInputError(`Invalid --where "${text}": expected ${field}.NAME OP VALUE with OP one of = != < <= > >= and a value`)
  }
  return { field, name: match[2]!, op: match[3] as ParamCondition['op'], value }
}

/** True when every condition holds on the values (a run's params or a blob's metadata); an absent name satisfies only `!=`. */
export function conditionsHold (values: Readonly<Record<string, Value>>, conditions: readonly ParamCondition[]): boolean {
  // Own values only: a name such as "constructor" or "toString" that the record lacks is absent, not inherited.
  return conditions.every((condition) => holds(Object.hasOwn(values, condition.name) ? values[condition.name] : undefined, condition))
}

function holds (actual: Value | undefined, { field, op, value }: ParamCondition): boolean {
  if (actual === undefined) return op === '!='
  // Params keep their types; metadata is all text, so a decimal number written as text compares as a number.
  const actualNumber = typeof actual === 'number' || (field === 'meta' && typeof actual === 'string' && DECIMAL.test(actual.trim()))
  const wantedNumber = DECIMAL.test(value)
  // A number and a text are never equal, nor in order: of them, only != holds.
  if (actualNumber !== wantedNumber) return op === '!='
  const order = actualNumber ? Math.sign(Number(actual) - Number(value)) : compareText(String(actual), value)
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
