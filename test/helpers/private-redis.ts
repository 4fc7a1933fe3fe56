// A private redis-server for tests that kill it (never the shared 6379): a random high port, no
// RDB snapshots, and either no persistence or an append-only file fsync'd on every write in a
// directory of the test's own, so that a restart on the same directory shows what survived.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';

export interface PrivateRedis {
  port: number;
  url: string;
  child: ChildProcess;
  /** SIGKILL, as a crash: nothing is flushed beyond what the AOF policy already wrote. */
  kill(): Promise<void>;
}

export async function startPrivateRedis(opts: { port?: number; aofDir?: string } = {}): Promise<PrivateRedis> {
  // Above Linux's ephemeral range (32768-60999), so no outgoing socket already holds it.
  const port = opts.port ?? randomInt(61_000, 65_000);
  const persistence = opts.aofDir
    ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', opts.aofDir]
    : ['--appendonly', 'no'];
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out.slice(-500)}`)));
  });
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    child,
    kill: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
