// Worker-thread entry of the parser pool (parser.ts). Parses one message at a time and transfers
// the attachment buffers back instead of copying them.
import { parentPort, workerData } from 'node:worker_threads';
import { parseMessage } from './parse-message.ts';
import type { ParseLimits, ParseRequest, WorkerReply } from './protocol.ts';

const port = parentPort;
if (!port) throw new Error('parse-worker.ts must run in a worker thread');
const limits = workerData as ParseLimits;

port.on('message', (req: ParseRequest) => {
  void parseMessage(req.buf, limits).then((result) => {
    const transfer = new Set<ArrayBuffer>();
    if (result.ok) {
      for (const a of result.message.attachments) {
        if (a.content.buffer instanceof ArrayBuffer) transfer.add(a.content.buffer);
      }
    }
    const reply: WorkerReply = { kind: 'result', id: req.id, result };
    port.postMessage(reply, [...transfer]);
  });
});

const ready: WorkerReply = { kind: 'ready' };
port.postMessage(ready);
