// Starting and stopping the processes of a benchmark: the gateway from the production build,
// the bare sink and the API stand-in, each its own process, and the load generator per run.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { LoadReport } from '../../src/loadtest/run.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DIST_MAIN = `${ROOT}dist/main.js`;

export interface Running {
  child: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await once(child, 'exit');
  clearTimeout(timer);
}

/** Runs `scripts/bench/serve.ts <what>` and returns its first stdout line, parsed. */
export async function startPeer<T>(what: 'sink' | 'api', args: string[] = []): Promise<Running & { info: T }> {
  const child = spawn(process.execPath, ['--import', 'tsx', `${ROOT}scripts/bench/serve.ts`, what, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: string) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0] as string);
    });
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code} before it started`)));
  });
  return { child, pid: child.pid as number, info: JSON.parse(line) as T, stop: () => stopChild(child) };
}

export interface GatewayProcess extends Running {
  ports: { submission: number; smtps: number; admin: number };
}

/** `node [nodeArgs] dist/main.js serve` with ports 0, the stand-in as the API; waits for its banner. */
export async function startGateway(
  env: Record<string, string>,
  nodeArgs: string[] = [],
  cwd = ROOT,
  main = DIST_MAIN,
): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [...nodeArgs, main, 'serve'], {
    cwd,
    // The alternate submission port is fixed by default (2587): off, so two gateways can run at once.
    env: {
      ...process.env,
      SMTP_SUBMISSION_PORT: '0',
      SMTP_SMTPS_PORT: '0',
      SMTP_ALT_SUBMISSION_PORT: '0',
      ADMIN_PORT: '0',
      ...env,
    },
    // JSON logs go where a container's stdout would: written and thrown away.
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let banner = '';
  child.stderr.setEncoding('utf8');
  const ports = await new Promise<GatewayProcess['ports']>((resolve, reject) => {
    child.stderr.on('data', (d: string) => {
      banner += d;
      const sub = /SMTP submission \(STARTTLS\): [^\s]+:(\d+)/.exec(banner);
      const smtps = /SMTPS \(implicit TLS\):\s+[^\s]+:(\d+)/.exec(banner);
      const admin = /Admin \(health, metrics\):\s+http:\/\/[^:]+:(\d+)/.exec(banner);
      if (sub && smtps && admin)
        resolve({ submission: Number(sub[1]), smtps: Number(smtps[1]), admin: Number(admin[1]) });
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before it started:\n${banner}`)));
  });
  return { child, pid: child.pid as number, ports, stop: () => stopChild(child) };
}

/** One load-generator run in its own process; resolves with its JSON report. */
export async function loadtest(args: string[]): Promise<LoadReport> {
  const child = spawn(process.execPath, [DIST_MAIN, 'loadtest', '--insecure', '--no-progress', '--json', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (out += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  const line = out.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line) as LoadReport;
  } catch {
    throw new Error(`loadtest exited with ${code} and no report: ${out}`);
  }
}
