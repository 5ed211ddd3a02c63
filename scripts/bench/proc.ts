/**
 * What the kernel says about a process: memory (/proc/PID/status), CPU time
 * (/proc/PID/stat) and storage writes (/proc/PID/io). Linux only, like otcd.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat's time fields (100 on every Linux we ship to). */
export const CLOCK_TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

export interface Memory {
  /** VmHWM: the peak resident set since the process started. */
  peakKiB: number;
  /** VmRSS: the resident set now. */
  rssKiB: number;
}

export function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string): number => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]);
  };
  return { peakKiB: kib('VmHWM'), rssKiB: kib('VmRSS') };
}

export interface CpuTime {
  /** utime + stime of the process itself, ms. */
  selfMs: number;
  /** cutime + cstime: children it has waited for (otcd's systemd-notify runs), ms. */
  childrenMs: number;
}

// Fields of /proc/PID/stat counted after the ") " that ends the command name
// (field 3, the state, is index 0 there): utime is field 14.
const UTIME = 11;
const STIME = 12;
const CUTIME = 13;
const CSTIME = 14;

export function readCpuTime(pid: number): CpuTime {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const ms = (ticks: number): number => (ticks * 1000) / CLOCK_TICKS_PER_S;
  return { selfMs: ms(fields[UTIME] + fields[STIME]), childrenMs: ms(fields[CUTIME] + fields[CSTIME]) };
}

export interface IoCounters {
  /** Bytes this process caused to be sent to the storage layer (page-granular: a dirtied page counts 4 KiB). */
  writeBytes: number;
  /** Bytes passed to write(2) and friends, files, pipes and sockets alike. */
  wchar: number;
}

export function readIo(pid: number): IoCounters {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(io)?.[1] ?? Number.NaN);
  return { writeBytes: field('write_bytes'), wchar: field('wchar') };
}
