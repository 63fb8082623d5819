import { arch, cpus, hostname, platform, release } from 'node:os'

/** The metadata key prefix of a platform fingerprint. */
export const FINGERPRINT_PREFIX = 'fingerprint.'

/**
 * The platform this process runs on, as blob metadata: `fingerprint.host`, `.platform`, `.release`,
 * `.arch`, `.cpu` (model), `.cores` and `.node` (version), so a result says where it was computed.
 */
export function platformFingerprint (): Record<string, string> {
  const cores = cpus()
  const fields: Record<string, string> = {
    host: hostname(),
    platform: platform(),
    release: release(),
    arch: arch(),
    cpu: cores[0]?.model.trim() ?? 'unknown',
    cores: String(cores.length),
    node: process.version
  }
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [FINGERPRINT_PREFIX + key, value]))
}
