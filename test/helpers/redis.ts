// The Redis the tests use: TEST_REDIS_URL, default redis://127.0.0.1:6379/0 (.ci/run starts
// one). On a developer machine without Redis the Redis tests are skipped with the reason shown
// (the rest of the suite still runs and exits); in CI an unreachable Redis fails them instead.
import { connect } from 'node:net';

export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** Whether a Redis server answers at `url` (PING; an auth-protected server counts as there). */
export function redisAnswers(url: string, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || 6379) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())));
  });
}

/** A `skip` option for node:test: false (run) when Redis answers or in CI. */
export async function skipWithoutRedis(url = TEST_REDIS_URL): Promise<string | false> {
  if (process.env.CI || (await redisAnswers(url))) return false;
  return `no Redis answers at ${url} (start one with \`redis-server --port 6379 --save ''\`, or set TEST_REDIS_URL)`;
}
