// A description of the machine a benchmark ran on (CPUs, memory, kernel, disk of the
// temp directory), for the header of its results: figures mean little without it.
import { cpus, totalmem, release, hostname } from 'node:os';
import { execFileSync } from 'node:child_process';

export interface MachineInfo {
  date: string;
  hostname: string;
  nproc: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  runc: string;
}

export function describeMachine(): MachineInfo {
  let runc = 'unknown';
  try {
    runc = execFileSync('runc', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    // runc missing: the native contender will fail and say so.
  }
  return {
    date: new Date().toISOString(),
    hostname: hostname(),
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    runc,
  };
}
