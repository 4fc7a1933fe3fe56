// RSS of the MIME parse pool alone under a sustained stream of html20k messages: how much of the
// gateway's memory the parse threads take, without SMTP, TLS or the API in the figure.
//   node --import tsx scripts/bench/parser-memory.ts [--messages 20000] [--inflight 200] [--workers 0]
import { createMessageParser } from '../../src/mime/parser.ts';
import { buildShape, messageHeaders } from '../../src/loadtest/shapes.ts';

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i === -1 ? def : (argv[i + 1] as string);
};
const rssMb = () => Math.round(process.memoryUsage.rss() / 2 ** 20);
const shape = buildShape('html20k', 'load@example.com', 'to@example.com');
const body = shape.body.subarray(0, shape.body.length - 3); // without the final dot line
const raw = (n: number) =>
  Buffer.concat([Buffer.from(messageHeaders(shape, 'mem', n, new Date().toUTCString())), body]);
const parser = createMessageParser({
  workers: Number(opt('workers', '0')),
  timeoutMs: 5000,
  heapMb: 256,
  maxDepth: 10,
  maxParts: 1000,
  maxHeaderBytes: 64 * 1024,
});
const total = Number(opt('messages', '20000'));
const inflight = Number(opt('inflight', '200'));
const idle = rssMb();
let peak = 0;
let next = 0;
let failed = 0;
const cpu0 = process.cpuUsage();
const t0 = Date.now();
await Promise.all(
  Array.from({ length: inflight }, async () => {
    while (next < total) {
      const r = await parser.parse(raw(next++));
      if (!r.ok) failed++;
      if (next % 500 === 0) peak = Math.max(peak, rssMb());
    }
  }),
);
const cpu = process.cpuUsage(cpu0);
const mu = process.memoryUsage();
process.stdout.write(
  JSON.stringify({
    mainHeapTotalMb: Math.round(mu.heapTotal / 2 ** 20),
    externalMb: Math.round(mu.external / 2 ** 20),
    idleRssMb: idle,
    peakRssMb: peak,
    endRssMb: rssMb(),
    failed,
    msgPerS: Math.round(total / ((Date.now() - t0) / 1000)),
    cpuMsPerMsg: +((cpu.user + cpu.system) / 1000 / total).toFixed(3),
  }) + '\n',
);
await parser.close();
