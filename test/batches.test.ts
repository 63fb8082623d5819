import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { makeBatchConfig, makeSeed, makeTrajectoryConfig } from '../src/runs/batches.ts'

// The values are those of mdsim's batch doctest (student 6, trajectory 1, steps 0 to 2), which the
// production-batch helpers must reproduce exactly.

const BATCHES = [
  { batch: '00', previous_batch: null, seed: '60100' },
  { batch: '01', previous_batch: '00', seed: '60101' },
  { batch: '02', previous_batch: '01', seed: '60102' }
]

const Seeds = suite('makeSeed')

Seeds('makeSeed() gives the id, then trajectory and step as two digits each', () => {
  assert.is(makeSeed(6, 1, 0), '60100')
  assert.is(makeSeed(6, 1, 1), '60101')
  assert.is(makeSeed(6, 1, 2), '60102')
})

Seeds('makeSeed() accepts the id as a string and pads only to two digits', () => {
  assert.is(makeSeed('6', 1, 0), '60100')
  assert.is(makeSeed(12, 34, 56), '123456')
  assert.is(makeSeed(6, 0, 10), '60010')
})

Seeds.run()

const Batches = suite('makeBatchConfig and makeTrajectoryConfig')

Batches('makeBatchConfig() gives the batch label, the previous label (null for the first) and the seed', () => {
  assert.equal([0, 1, 2].map((step) => makeBatchConfig(6, 1, step)), BATCHES)
  assert.equal(Object.keys(makeBatchConfig(6, 1, 0)).sort(), ['batch', 'previous_batch', 'seed'])
})

Batches('makeTrajectoryConfig() gives the trajectory label, the template and the configs of its batches', () => {
  const config = makeTrajectoryConfig(6, 1, 3, 'quench.namd.j2')
  assert.equal(Object.keys(config).sort(), ['batches', 'config_template', 'trajectory'])
  assert.is(config.trajectory, '01')
  assert.is(config.config_template, 'quench.namd.j2')
  assert.equal(config.batches, BATCHES)
})

Batches('makeTrajectoryConfig() of zero steps has no batches', () => {
  assert.equal(makeTrajectoryConfig(6, 2, 0, 't.j2'), { trajectory: '02', config_template: 't.j2', batches: [] })
})

Batches.run()
