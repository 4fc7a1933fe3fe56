// Runs a benchmark peer as its own process, so its CPU is not charged to the one being
// measured: `sink` (bare smtp-server) or `api` (the Cakemail API stand-in). Prints one JSON line
// with its ports, then runs until SIGTERM.
//   node --import tsx scripts/bench/serve.ts sink
//   node --import tsx scripts/bench/serve.ts api [latencyMs]
import { startApiStandin } from './api-standin.ts';
import { startSink } from './sink.ts';

const [what, arg] = process.argv.slice(2);
let close: () => Promise<void>;
if (what === 'sink') {
  const sink = await startSink();
  process.stdout.write(JSON.stringify({ submission: sink.ports.submission, smtps: sink.ports.smtps }) + '\n');
  close = () => sink.close();
} else if (what === 'api') {
  const api = await startApiStandin({ latencyMs: arg === undefined ? 20 : Number(arg) });
  process.stdout.write(JSON.stringify({ url: api.url }) + '\n');
  close = () => api.close();
} else {
  process.stderr.write('usage: serve.ts sink | api [latencyMs]\n');
  process.exit(2);
}
process.once('SIGTERM', () => void close().then(() => process.exit(0)));
