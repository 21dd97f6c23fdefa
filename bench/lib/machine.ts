/** The machine a run happened on, printed with the table and stored with the results. */
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os'
import { CLK_TCK } from './proc-stats'

export interface MachineInfo {
  nproc: number
  cpuModel: string
  memoryGiB: number
  kernel: string
  node: string
  clockTicksPerSecond: number
  /** 1-minute load average when the run started and ended: high values mean a noisy run. */
  loadAverageAtStart: number
  loadAverageAtEnd?: number
}

export function describeMachine(): MachineInfo {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    clockTicksPerSecond: CLK_TCK,
    loadAverageAtStart: loadavg()[0]!
  }
}

export function currentLoadAverage(): number {
  return loadavg()[0]!
}
