/** One segment of a production batch, as mdsim's `make_batch_config` gives it. */
export interface BatchConfig {
  batch: string
  previous_batch: string | null
  seed: string
}

/** A trajectory of segments with the template its configs are rendered from. */
export interface TrajectoryConfig {
  trajectory: string
  config_template: string
  batches: BatchConfig[]
}

function twoDigits (n: number): string {
  return String(n).padStart(2, '0')
}

/** The seed of a segment: the id, then trajectory and step as two digits each (6, 1, 0 → '60100'). */
export function makeSeed (id: number | string, trajectory: number, step: number): string {
  return `${id}${twoDigits(trajectory)}${twoDigits(step)}`
}

/** The config of step `step` of a batch: its label, the previous label (null at 0) and its seed. */
export function makeBatchConfig (id: number | string, trajectory: number, step: number): BatchConfig {
  return { batch: twoDigits(step), previous_batch: step === 0 ? null : twoDigits(step - 1), seed: makeSeed(id, trajectory, step) }
}

/** The config of a trajectory of `steps` segments rendered from `template`. */
export function makeTrajectoryConfig (id: number | string, trajectory: number, steps: number, template: string): TrajectoryConfig {
  return {
    trajectory: twoDigits(trajectory),
    config_template: template,
    batches: Array.from({ length: steps }, (_, step) => makeBatchConfig(id, trajectory, step))
  }
}
