/**
 * The workloads of `npm run bench`, in the order they run. A new workload is one more module
 * exporting a Workload, added here.
 */
import type { Workload } from '../lib/workload'
import { callSetupWorkload } from './call-setup'
import { crossProcessWorkload } from './cross-process'
import { idleScaleWorkload } from './idle-scale'
import { liveSpeakersWorkload } from './live-speakers'
import { openLoopWorkload } from './open-loop'
import { relayWorkload } from './relay'
import { rendererWeightWorkload } from './renderer-weight'

// The quick, deterministic one first, then the short fixed ones (call setup, live speakers): the
// time budget can only ever shorten the later ones, and relay and idle scale adapt their
// repetitions to what is left.
export const WORKLOADS: readonly Workload[] = [
  rendererWeightWorkload,
  callSetupWorkload,
  liveSpeakersWorkload,
  openLoopWorkload,
  crossProcessWorkload,
  relayWorkload,
  idleScaleWorkload
]
