// CPU time and memory of a process and its descendants, read from /proc (Linux). Worker
// threads are inside their process's figures; cluster workers are child processes and are
// summed in.
import { readFileSync, readdirSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux this runs on

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The pid and every descendant that is alive now. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i] as number;
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      const children = read(`/proc/${p}/task/${t}/children`);
      if (children) for (const c of children.trim().split(/\s+/)) if (c) out.push(Number(c));
    }
  }
  return out;
}

/** utime + stime of one process in ms. */
export function cpuMs(pid: number): number {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return 0;
  // The command name may contain spaces; fields after its closing parenthesis are fixed.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

export function treeCpuMs(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + cpuMs(p), 0);
}

/** Resident set size of the tree, bytes. */
export function treeRssBytes(pid: number): number {
  let sum = 0;
  for (const p of processTree(pid)) {
    const m = /VmRSS:\s+(\d+) kB/.exec(read(`/proc/${p}/status`) ?? '');
    if (m) sum += Number(m[1]) * 1024;
  }
  return sum;
}

/** Samples RSS every `everyMs` until stopped; returns the peak. */
export function rssSampler(pid: number, everyMs = 200): { stop(): number } {
  let peak = treeRssBytes(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRssBytes(pid));
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, treeRssBytes(pid));
    },
  };
}

export function machine(): { nproc: number; cpu: string; memGiB: number; node: string; kernel: string } {
  const cpuinfo = read('/proc/cpuinfo') ?? '';
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? 'unknown';
  const nproc = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
  const mem = Number(/MemTotal:\s+(\d+) kB/.exec(read('/proc/meminfo') ?? '')?.[1] ?? 0);
  const kernel = (read('/proc/sys/kernel/osrelease') ?? '').trim();
  return { nproc, cpu: model.trim(), memGiB: Math.round(mem / 1024 / 1024), node: process.version, kernel };
}
