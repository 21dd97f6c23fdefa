/**
 * The workloads of `npm run bench`, in the order they run. A new workload is one more module
 * exporting a Workload, added here.
 */
import type { Workload } from '../lib/workload'
import { idleScaleWorkload } from './idle-scale'
import { relayWorkload } from './relay'
import { rendererWeightWorkload } from './renderer-weight'

// The quick, deterministic one first: the time budget can only ever shorten the later ones.
export const WORKLOADS: readonly Workload[] = [rendererWeightWorkload, relayWorkload, idleScaleWorkload]
