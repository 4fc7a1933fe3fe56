// Latency below saturation: the headline load (html20k, 100 connections × 100 messages, one
// recipient, STARTTLS + AUTH PLAIN, API stand-in +20 ms) held at a fixed rate, the first 2 s left
// out (connections' set-up), against one or more builds measured in turn. Closed-loop p99 at 100
// connections is bound to 100 / msg/s by Little's law; this is the p99 a sender sees at a given
// load. Each build runs 3 s closed loop first to warm up.
//   node --import tsx scripts/bench/open-loop.ts [--rate 840] [--runs 2] [--duration 22] [ROOT ...]   (ROOT: a checkout with dist/; default this one)
import { loadtest, ROOT, startGateway, startPeer } from './procs.ts';

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  if (i === -1) return def;
  const [v] = argv.splice(i, 2).slice(1);
  return v as string;
};
const rate = opt('rate', '840');
const runs = Number(opt('runs', '2'));
const duration = opt('duration', '22');
const roots = argv.length ? argv.map((r) => r.replace(/\/+$/, '')) : [ROOT.replace(/\/+$/, '')];

const api = await startPeer<{ url: string }>('api', ['20']);
try {
  for (let i = 0; i < runs; i++) {
    for (const root of i % 2 ? [...roots].reverse() : roots) {
      const gw = await startGateway(
        {
          CAKEMAIL_API_URL: api.info.url,
          LOG_LEVEL: 'info',
          MAX_CONNECTIONS: '5000',
          MAX_CONNECTIONS_PER_IP: '5000',
          AUTH_MAX_FAILURES_PER_IP: '100000',
          AUTH_MAX_FAILURES_PER_USER: '100000',
          WORKERS: '1',
        },
        [],
        root,
        `${root}/dist/main.js`,
      );
      try {
        const load = [
          '--port',
          String(gw.ports.submission),
          '--shape',
          'html20k',
          '--concurrency',
          '100',
          '--per-connection',
          '100',
          '--messages',
          '0',
        ];
        await loadtest([...load, '--duration', '3']);
        const r = await loadtest([...load, '--duration', duration, '--warmup', '2', '--rate', rate]);
        const d = r.latencyMs.dot;
        process.stdout.write(
          `${root}  ${r.msgPerS} msg/s  dot p50 ${d.p50}  p95 ${d.p95}  p99 ${d.p99}  max ${d.max} ms  rejected ${r.rejected}\n`,
        );
      } finally {
        await gw.stop();
      }
    }
  }
} finally {
  await api.stop();
}
