// Cost of hostile MIME shapes (docs/threat-model.md T-10) in the real parser pool: how long each takes
// to be parsed or refused, off the event loop.   node --import tsx scripts/bench-mime.ts
import { createMessageParser } from '../src/mime/parser.ts';
const p = createMessageParser({ workers: 2, timeoutMs: 5000, heapMb: 256, maxDepth: 10, maxParts: 1000, maxHeaderBytes: 1 << 20 });
const cases: Record<string, string> = {
  'nesting depth 10,000': (() => { let b = 'Content-Type: text/plain\r\n\r\nx\r\n'; for (let i = 10000; i > 0; i--) b = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${b}--b${i}--\r\n`; return 'From: a@b.c\r\n' + b; })(),
  '100,000 parts': 'From: a@b.c\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n' + Array.from({ length: 100000 }, () => '--p\r\n\r\nx\r\n').join('') + '--p--\r\n',
  'rfc822 chain 40,000': 'From: a@b.c\r\n' + 'Content-Type: message/rfc822\r\n\r\n'.repeat(40000) + 'Subject: x\r\n\r\nbody\r\n',
  '8 MB header block': 'From: a@b.c\r\n' + ('X-Junk: ' + 'a'.repeat(990) + '\r\n').repeat(8000) + '\r\nbody\r\n',
  '20 MiB base64 attachment': 'From: a@b.c\r\nContent-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n' + Buffer.alloc(20 << 20, 1).toString('base64').replace(/.{76}/g, '$&\r\n') + '\r\n--m--\r\n',
};
await p.parse(Buffer.from('From: a@b.c\r\n\r\nwarm\r\n'));
for (const [name, raw] of Object.entries(cases)) {
  const buf = Buffer.from(raw);
  const t = performance.now();
  const r = await p.parse(buf);
  console.log(`${name.padEnd(26)} ${(buf.length / 1048576).toFixed(1).padStart(5)} MiB  ${(performance.now() - t).toFixed(0).padStart(5)} ms  ${r.ok ? 'parsed' : `${r.failure.kind}: ${r.failure.detail}`}`);
}
await p.close();
