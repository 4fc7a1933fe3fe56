// Cost of parsing, through the real parser pool (worker threads, default limits): CPU ms per
// message for the standard shapes, and for every hostile shape (docs/benchmarks.md, MIME section)
// the time, CPU and outcome.
//   node --import tsx scripts/bench-mime.ts [--rounds N]
// CPU is process.cpuUsage() of the whole process (main thread and workers) divided by the number
// of messages, so it includes handing the bytes over and the result back.
import MailComposer from 'nodemailer/lib/mail-composer';
import PostalMime from 'postal-mime';
import { parseMessage } from '../src/mime/parse-message.ts';
import { createMessageParser } from '../src/mime/parser.ts';
import { hostileShapes } from './mime-shapes.ts';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] || 200);

async function compose(opts: ConstructorParameters<typeof MailComposer>[0]): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    new MailComposer(opts).compile().build((err, msg) => (err ? reject(err) : resolve(msg))),
  );
}

const base = {
  from: '"Alice Martin" <alice@example.com>',
  to: 'bob@example.net',
  subject: 'Votre commande #1042 a été expédiée',
  date: new Date('2026-11-25T12:00:00Z'),
};
const para = (i: number): string =>
  `Paragraph ${i}: your order has shipped, and here is what happens next with the parcel. `;
const pdf = Buffer.alloc(300 * 1024);
for (let i = 0; i < pdf.length; i++) pdf[i] = (i * 7919) & 0xff;
pdf.write('%PDF-1.4\n', 0, 'latin1');

const standard: Record<string, Buffer> = {
  '1 KB text': await compose({ ...base, text: Array.from({ length: 8 }, (_, i) => para(i)).join('\n') }),
  '20 KB HTML + text': await compose({
    ...base,
    html: `<html><body>${Array.from({ length: 110 }, (_, i) => `<p>${para(i)}<a href="https://example.com/t/${i}">track</a></p>`).join('\n')}</body></html>`,
    text: Array.from({ length: 60 }, (_, i) => para(i)).join('\n'),
  }),
  '300 KB with a PDF': await compose({
    ...base,
    text: 'Your invoice is attached.\n',
    html: '<p>Your invoice is attached.</p>',
    attachments: [{ filename: 'invoice.pdf', content: pdf, contentType: 'application/pdf' }],
  }),
};

const bombs = hostileShapes('a@b.c');

const parser = createMessageParser({
  workers: 2,
  timeoutMs: 5000,
  heapMb: 256,
  maxDepth: 10,
  maxParts: 1000,
  maxHeaderBytes: 1 << 20,
});
const cpuMs = (c: NodeJS.CpuUsage): number => (c.user + c.system) / 1000;
const summary = (r: Awaited<ReturnType<typeof parser.parse>>): string => {
  if (!r.ok) return `${r.failure.kind}: ${r.failure.detail}`;
  const m = r.message;
  return `parsed (from ${m.from.length}, to ${m.to.length}, name ${m.from[0]?.name.length ?? 0} chars, ${m.attachments.length} attachments, text ${m.text?.length ?? 0}, html ${m.html?.length ?? 0})`;
};

// Warm-up: as many rounds as are measured, so both workers' code is optimised before timing.
for (let i = 0; i < rounds; i++) for (const raw of Object.values(standard)) await parser.parse(raw);

console.log(`Standard shapes, ${rounds} messages each, one at a time (CPU ms per message, all threads)`);
for (const [name, raw] of Object.entries(standard)) {
  const c0 = process.cpuUsage();
  const e0 = performance.eventLoopUtilization();
  const t0 = performance.now();
  let last;
  for (let i = 0; i < rounds; i++) last = await parser.parse(raw);
  const cpu = cpuMs(process.cpuUsage(c0)) / rounds;
  // The main thread's own share: time its event loop was busy (copy in, result out).
  const main = performance.eventLoopUtilization(e0).active / rounds;
  const wall = (performance.now() - t0) / rounds;
  console.log(
    `  ${name.padEnd(20)} ${(raw.length / 1024).toFixed(1).padStart(7)} KiB  cpu ${cpu.toFixed(3).padStart(7)} ms  main thread ${main.toFixed(3).padStart(6)} ms  wall ${wall.toFixed(3).padStart(7)} ms  ${last ? summary(last) : ''}`,
  );
}

// The parse alone, on this thread, against postal-mime 4.0.0's own parse of the same bytes (the
// reference, with no conversion at all), alternating in blocks of 50 so both see the same machine.
console.log(`In-process parse, ${rounds * 2} messages each, alternating with postal-mime (CPU ms per message)`);
for (const [name, raw] of Object.entries(standard)) {
  const ab = (): ArrayBuffer => raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
  const limits = { maxDepth: 10, maxParts: 1000, maxHeaderBytes: 1 << 20 };
  let ours = 0;
  let theirs = 0;
  for (let block = 0; block < (rounds * 2) / 50; block++) {
    let c0 = process.cpuUsage();
    for (let i = 0; i < 50; i++) await parseMessage(ab(), limits);
    ours += cpuMs(process.cpuUsage(c0));
    c0 = process.cpuUsage();
    for (let i = 0; i < 50; i++) await PostalMime.parse(ab(), { attachmentEncoding: 'arraybuffer' });
    theirs += cpuMs(process.cpuUsage(c0));
  }
  const n = rounds * 2;
  console.log(
    `  ${name.padEnd(20)} ours ${(ours / n).toFixed(3).padStart(7)} ms  postal-mime ${(theirs / n).toFixed(3).padStart(7)} ms  ratio ${(theirs / ours).toFixed(1)}x`,
  );
}

console.log('Hostile shapes, one each (wall ms, CPU ms all threads, outcome)');
for (const [name, text] of Object.entries(bombs)) {
  const raw = Buffer.from(text, 'latin1');
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await parser.parse(raw);
  const cpu = cpuMs(process.cpuUsage(c0));
  const wall = performance.now() - t0;
  // The bound (docs/security.md): parsed or refused within 2 s, under the worker's heap cap.
  const bound = wall <= 2000 && (r.ok || r.failure.kind !== 'crashed') ? 'within bound' : 'OVER BOUND';
  console.log(
    `  ${name.padEnd(34)} ${(raw.length / 1048576).toFixed(2).padStart(6)} MiB  wall ${wall.toFixed(0).padStart(5)} ms  cpu ${cpu.toFixed(0).padStart(5)} ms  ${bound}  ${summary(r).slice(0, 140)}`,
  );
}
await parser.close();
