// Child processes of the gateway's own CLI for scripts that test it from outside: start one with
// its own environment and a shared log, wait for an HTTP endpoint, wait for an exit, run a
// command to completion. Ports come from the OS (port 0), never the defaults.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** `smtp-gateway <args>` from the sources, its output appended to `log`. */
export function startCli(args: string[], env: Record<string, string>, log: NodeJS.WritableStream): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  return child;
}

/** Runs `smtp-gateway <args>` to completion: exit code and what it printed. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Resolves once `url` answers 2xx; throws after `ms`, or as soon as `child` exits. */
export async function waitFor(url: string, ms = 60_000, child?: ChildProcess): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    if (child && (child.exitCode !== null || child.signalCode !== null))
      throw new Error(`${url}: the process exited (${child.exitCode ?? child.signalCode}) before it was up`);
    if (Date.now() > until) throw new Error(`${url} not up after ${ms} ms`);
    await sleep(100);
  }
}

export const exited = (c: ChildProcess) =>
  new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));
