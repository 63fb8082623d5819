/** The stable error codes of the CLI contract; messages may change, codes do not. */
export type ErrorCode =
  | 'E_USAGE'
  | 'E_NO_STORE'
  | 'E_EXISTS'
  | 'E_NOT_FOUND'
  | 'E_AMBIGUOUS'
  | 'E_CORRUPT'
  | 'E_LOCKED'
  | 'E_FORK'
  | 'E_BAD_INPUT'
  | 'E_VERSION'
  | 'E_NET'
  | 'E_AUTH'

/** Structured facts about a failure: candidates, digests, origin and seq, paths. */
export type ErrorDetails = Record<string, unknown>

/** Options accepted by every snapstore error. */
export interface SnapstoreErrorOptions {
  cause?: unknown
  details?: ErrorDetails
}

/** The base of every error snapstore raises on purpose; `code` is stable. */
export class SnapstoreError extends Error {
  readonly code: ErrorCode
  readonly details: ErrorDetails

  constructor (code: ErrorCode, message: string, options: SnapstoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'SnapstoreError'
    this.code = code
    this.details = options.details ?? {}
  }
}

/** A command line that cannot be understood. */
export class UsageError extends SnapstoreError {
  static readonly code = 'E_USAGE'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_USAGE', message, options); this.name = 'UsageError' }
}

/** A path that is not a snapstore store. */
export class NoStoreError extends SnapstoreError {
  static readonly code = 'E_NO_STORE'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_NO_STORE', message, options); this.name = 'NoStoreError' }
}

/** Something that must not exist yet already does. */
export class ExistsError extends SnapstoreError {
  static readonly code = 'E_EXISTS'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_EXISTS', message, options); this.name = 'ExistsError' }
}

/** An id, tag, file or item that cannot be found. */
export class NotFoundError extends SnapstoreError {
  static readonly code = 'E_NOT_FOUND'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_NOT_FOUND', message, options); this.name = 'NotFoundError' }
}

/** A prefix that matches more than one item; `details.candidates` lists them. */
export class AmbiguousError extends SnapstoreError {
  static readonly code = 'E_AMBIGUOUS'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_AMBIGUOUS', message, options); this.name = 'AmbiguousError' }
}

/** Stored or received bytes that do not match their id, chain or format. */
export class CorruptError extends SnapstoreError {
  static readonly code = 'E_CORRUPT'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_CORRUPT', message, options); this.name = 'CorruptError' }
}

/** Another process holds the store open. */
export class LockedError extends SnapstoreError {
  static readonly code = 'E_LOCKED'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_LOCKED', message, options); this.name = 'LockedError' }
}

/** Two stores disagree about the same origin and seq. */
export class ForkError extends SnapstoreError {
  static readonly code = 'E_FORK'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_FORK', message, options); this.name = 'ForkError' }
}

/** User input (a file, a value, a prefix) that cannot be used. */
export class BadInputError extends SnapstoreError {
  static readonly code = 'E_BAD_INPUT'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_BAD_INPUT', message, options); this.name = 'BadInputError' }
}

/** A store written by a newer snapstore format. */
export class VersionError extends SnapstoreError {
  static readonly code = 'E_VERSION'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_VERSION', message, options); this.name = 'VersionError' }
}

/** A peer that cannot be reached. */
export class NetError extends SnapstoreError {
  static readonly code = 'E_NET'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_NET', message, options); this.name = 'NetError' }
}

/** A peer that refused the token. */
export class AuthError extends SnapstoreError {
  static readonly code = 'E_AUTH'
  constructor (message: string, options?: SnapstoreErrorOptions) { super('E_AUTH', message, options); this.name = 'AuthError' }
}

/** True when `err` is a snapstore error, optionally of the given code. */
export function isSnapstoreError (err: unknown, code?: ErrorCode): err is SnapstoreError {
  return err instanceof SnapstoreError && (code === undefined || err.code === code)
}
