// Worker-thread entry of the parser pool (parser.ts). Parses one message at a time and hands the
// attachment bytes back without copying them where it can: a part sent 7bit/8bit/binary is a view
// into the request's own buffer, which is transferred once for all of them; a decoded part larger
// than Node's Buffer pool owns its buffer and is transferred. Smaller decoded parts may live in
// the shared pool, which must never be detached, so those few bytes are copied. The bodies also go
// back as JSON, ready for the API request (types.ts, bodyJson).
import { parentPort, workerData } from 'node:worker_threads';
import { parseMessage } from './parse-message.ts';
import type { ParseRequest, WorkerData, WorkerReply } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('parse-worker.ts must run in a worker thread');
// Requests come on parentPort; answers go back on their own port, which the pool can read
// synchronously (protocol.ts).
const { limits, replies } = workerData as WorkerData;
const utf8 = new TextEncoder();

port.on('message', (req: ParseRequest) => {
  void parseMessage(req.buf, limits).then((result) => {
    const transfer = new Set<ArrayBuffer>();
    if (result.ok) {
      // TextEncoder gives each its own ArrayBuffer (never Node's shared pool), so both transfer.
      const m = result.message;
      m.bodyJson = {
        text: m.text === null ? null : utf8.encode(JSON.stringify(m.text)),
        html: m.html === null ? null : utf8.encode(JSON.stringify(m.html)),
      };
      for (const b of [m.bodyJson.text, m.bodyJson.html]) if (b) transfer.add(b.buffer as ArrayBuffer);
      for (const a of result.message.attachments) {
        const buffer = a.content.buffer;
        if (buffer instanceof ArrayBuffer && (buffer === req.buf || buffer.byteLength > Buffer.poolSize))
          transfer.add(buffer);
        else {
          a.content = new Uint8Array(a.content);
          transfer.add(a.content.buffer as ArrayBuffer);
        }
      }
    }
    const reply: WorkerReply = { kind: 'result', id: req.id, result };
    replies.postMessage(reply, [...transfer]);
  });
});

const ready: WorkerReply = { kind: 'ready' };
replies.postMessage(ready);
