// The MessageParser: a pool of worker threads running parse-worker.ts. A hostile message must
// never cost the event loop that serves SMTP sessions (docs/security.md), so parsing runs off it.
// Each worker has a heap cap (resourceLimits.maxOldGenerationSizeMb) and each parse a hard
// wall-clock deadline that starts when the message is handed over, queue wait included: on
// overrun the worker is terminated and a fresh one takes its place. Two lanes keep large
// messages from starving small ones: a message over LARGE_MESSAGE_BYTES waits only for the
// large lane, while a small one takes any idle worker. A message that overran once and comes
// back with the same bytes is refused at once (554), not parsed again: a retried bomb would
// otherwise cost the full deadline on every retry. Every outcome is a ParseResult; parse() never
// rejects.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ParseLimits, ParseRequest, WorkerReply } from './protocol.ts';
import type { MessageParser, ParseFailure, ParseResult } from './types.ts';

export interface MessageParserOptions {
  /** Worker threads; 0 = one per core. At least one per lane is started. */
  workers: number;
  timeoutMs: number;
  heapMb: number;
  maxDepth: number;
  maxParts: number;
  maxHeaderBytes: number;
}

// The worker file sits next to this one with the same extension: `.ts` when running the sources
// under tsx, `.js` after `tsc`.
const OWN_EXT = extname(fileURLToPath(import.meta.url));
const WORKER_URL = new URL(`./parse-worker${OWN_EXT}`, import.meta.url);

// Workers inherit `--import tsx`, but on Node 20 the worker's entry module is resolved before
// tsx's hooks are active in that thread ("Unknown file extension .ts"). For the sources, start
// the worker from a tiny bootstrap that registers tsx first and then imports the real entry.
function workerEntry(): URL {
  if (OWN_EXT !== '.ts') return WORKER_URL;
  const api = JSON.stringify(import.meta.resolve('tsx/esm/api'));
  const code = `import { register } from ${api}; register(); await import(${JSON.stringify(WORKER_URL.href)});`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}
// A worker that has not said "ready" by then is considered broken (loading a module is not the
// message's fault, so it does not count against the parse deadline).
const STARTUP_GRACE_MS = 15_000;

// Dispatching a job to an idle worker takes a few ms; that much queue time still counts as the
// whole deadline.
const QUEUE_TOLERANCE_MS = 5;

// A parse's garbage is short-lived and small next to V8's default young generation, which each
// worker would otherwise grow to its full size under load and keep: a smaller one is scavenged
// more often, at no measured cost, and holds less memory per worker.
const WORKER_YOUNG_GENERATION_MB = 4;

/** Messages larger than this are parsed in the large lane only. */
export const LARGE_MESSAGE_BYTES = 256 * 1024;
// SHA-256 digests of messages whose parse overran its deadline or heap; bounded, oldest first out.
const MAX_REMEMBERED_OVERRUNS = 1000;

interface Job {
  buf: ArrayBuffer;
  large: boolean;
  /** The caller's bytes, hashed only if the parse overruns (the copy in `buf` is transferred). */
  raw: Uint8Array;
  /** Date.now() by which the parse must be done. */
  deadline: number;
  resolve: (r: ParseResult) => void;
}

interface Slot {
  worker: Worker | null;
  ready: Promise<boolean> | null;
  busy: boolean;
  large: boolean;
}

export function createMessageParser(opts: MessageParserOptions): MessageParser {
  for (const [key, value] of Object.entries(opts)) {
    if (!Number.isInteger(value) || value < (key === 'workers' ? 0 : 1)) throw new RangeError(`createMessageParser: ${key} must be a positive integer, got ${value}`);
  }
  const limits: ParseLimits = { maxDepth: opts.maxDepth, maxParts: opts.maxParts, maxHeaderBytes: opts.maxHeaderBytes };
  const total = Math.max(2, opts.workers || availableParallelism());
  const largeCount = Math.max(1, Math.floor(total / 2));
  const slots: Slot[] = Array.from({ length: total }, (_, i) => ({ worker: null, ready: null, busy: false, large: i < largeCount }));
  const queue: Job[] = [];
  const overruns = new Set<string>();
  const digestOf = (raw: Uint8Array): string => createHash('sha256').update(raw).digest('base64');
  const remember = (raw: Uint8Array): void => {
    overruns.add(digestOf(raw));
    if (overruns.size > MAX_REMEMBERED_OVERRUNS) overruns.delete(overruns.values().next().value as string);
  };
  const inFlight = new Set<() => void>();
  let nextId = 0;
  let closed = false;

  function spawn(slot: Slot): void {
    const worker = new Worker(workerEntry(), {
      workerData: limits,
      resourceLimits: { maxOldGenerationSizeMb: opts.heapMb, maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      stdout: false,
      stderr: false,
    });
    // Idle workers must not keep the process alive; a job in flight holds its deadline timer.
    worker.unref();
    slot.worker = worker;
    slot.ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), STARTUP_GRACE_MS);
      const onMessage = (m: WorkerReply): void => {
        if (m.kind !== 'ready') return;
        clearTimeout(timer);
        worker.off('message', onMessage);
        resolve(true);
      };
      worker.on('message', onMessage);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    // A worker that dies while idle (or during a job: the job's own listener reports it) is
    // forgotten; the next job spawns a new one. Without a listener an 'error' would be thrown.
    worker.on('error', () => {});
    worker.once('exit', () => {
      if (slot.worker === worker) {
        slot.worker = null;
        slot.ready = null;
      }
    });
  }

  function retire(slot: Slot): void {
    const worker = slot.worker;
    slot.worker = null;
    slot.ready = null;
    if (worker) void worker.terminate().catch(() => undefined);
  }

  // Small lane first for small jobs, so a large-lane worker stays free for large ones when it can.
  function pump(): void {
    for (const slot of [...slots].sort((a, b) => Number(a.large) - Number(b.large))) {
      if (closed || queue.length === 0) return;
      if (slot.busy) continue;
      const index = queue.findIndex((j) => slot.large || !j.large);
      if (index < 0) continue;
      const [job] = queue.splice(index, 1);
      if (job) void run(slot, job);
    }
  }

  async function run(slot: Slot, job: Job): Promise<void> {
    slot.busy = true;
    let settled = false;
    const finish = (result: ParseResult, broken: boolean): void => {
      if (settled) return;
      settled = true;
      inFlight.delete(abort);
      if (broken) retire(slot);
      slot.busy = false;
      job.resolve(result);
      pump();
    };
    const abort = (): void => finish(failure({ kind: 'crashed', detail: 'parser closed' }), true);
    inFlight.add(abort);
    try {
      if (Date.now() >= job.deadline) {
        return finish(failure({ kind: 'timeout', detail: `no parse worker was free within ${opts.timeoutMs} ms` }), false);
      }
      const startup = Date.now();
      if (!slot.worker) spawn(slot);
      const worker = slot.worker;
      const ready = await slot.ready;
      if (settled) return;
      if (!worker || !ready) return finish(failure({ kind: 'crashed', detail: 'parse worker failed to start' }), true);

      const id = ++nextId;
      // Starting a worker is not the message's fault: that time is given back.
      const remaining = Math.max(1, job.deadline - startup);
      // Only a parse that had the whole deadline to itself marks the message as a bomb: one cut
      // short by queue wait may be an ordinary message on a busy pool, and gets 451 only.
      const wholeDeadline = remaining >= opts.timeoutMs - QUEUE_TOLERANCE_MS;
      const timer = setTimeout(() => {
        if (wholeDeadline) remember(job.raw);
        finish(failure({ kind: 'timeout', detail: `MIME parse took longer than ${opts.timeoutMs} ms` }), true);
      }, remaining);
      const cleanup = (): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onMessage = (m: WorkerReply): void => {
        if (m.kind !== 'result' || m.id !== id) return;
        cleanup();
        finish(m.result, false);
      };
      const onError = (err: Error): void => {
        cleanup();
        const oom = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
        if (oom) remember(job.raw);
        finish(failure({ kind: 'crashed', detail: oom ? `parse worker exceeded its ${opts.heapMb} MB heap` : `parse worker failed: ${err.message}` }), true);
      };
      const onExit = (code: number): void => {
        cleanup();
        finish(failure({ kind: 'crashed', detail: `parse worker exited with code ${code}` }), true);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      const req: ParseRequest = { id, buf: job.buf };
      worker.postMessage(req, [job.buf]);
    } catch (err) {
      finish(failure({ kind: 'crashed', detail: `parse worker unavailable: ${err instanceof Error ? err.message : String(err)}` }), true);
    }
  }

  return {
    parse(raw: Uint8Array): Promise<ParseResult> {
      return new Promise<ParseResult>((resolve) => {
        if (closed) return resolve(failure({ kind: 'crashed', detail: 'parser closed' }));
        try {
          if (overruns.size > 0 && overruns.has(digestOf(raw))) {
            return resolve(failure({ kind: 'limit', limit: 'parse_time', detail: `message already exceeded the parse deadline (${opts.timeoutMs} ms) or heap once; refused without parsing it again` }));
          }
          // One copy (a memcpy), transferred to the worker without another: the caller keeps its
          // bytes (the dedupe key is a hash of them), and a Buffer from Node's pool must never be
          // detached.
          const copy = new Uint8Array(raw.byteLength);
          copy.set(raw);
          queue.push({ buf: copy.buffer, large: raw.byteLength > LARGE_MESSAGE_BYTES, raw, deadline: Date.now() + opts.timeoutMs, resolve });
          pump();
        } catch (err) {
          resolve(failure({ kind: 'crashed', detail: `could not hand the message to a parse worker: ${err instanceof Error ? err.message : String(err)}` }));
        }
      });
    },
    async close(): Promise<void> {
      closed = true;
      const workers = slots.map((s) => s.worker).filter((w): w is Worker => w !== null);
      for (const job of queue.splice(0)) job.resolve(failure({ kind: 'crashed', detail: 'parser closed' }));
      for (const abort of [...inFlight]) abort();
      for (const s of slots) retire(s);
      await Promise.all(workers.map((w) => w.terminate().catch(() => undefined)));
    },
  };
}

function failure(f: ParseFailure): ParseResult {
  return { ok: false, failure: f };
}
