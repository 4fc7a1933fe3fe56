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
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import type { ParseLimits, ParseRequest, WorkerData, WorkerReply } from './protocol.ts';
import type { MessageParser, ParseFailure, ParseResult } from './types.ts';

export interface MessageParserOptions {
  /** Worker threads; 0 = one per core. At least one per lane is started. */
  workers: number;
  timeoutMs: number;
  heapMb: number;
  maxDepth: number;
  maxParts: number;
  maxHeaderBytes: number;
  /** How long the parse in front may run before the messages handed behind it move to another worker (default: the shorter of 100 ms and a quarter of timeoutMs). */
  stallMs?: number;
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

// Dispatching a job to an idle worker takes a few ms, and on a loaded machine the thread may be
// descheduled for a few more: a parse that had at least 90% of the deadline to itself (or all but
// 5 ms of a short one) counts as having had the whole of it. An ordinary message parses in well
// under a second even at 10 MB, so one that ran that long was not cut short by the wait.
const QUEUE_TOLERANCE_MS = 5;
const QUEUE_TOLERANCE_SHARE = 0.1;

// A parse's garbage is short-lived and small next to V8's default young generation, which each
// worker would otherwise grow to its full size under load and keep: a smaller one is scavenged
// more often, at no measured cost, and holds less memory per worker.
const WORKER_YOUNG_GENERATION_MB = 4;

/** Messages larger than this are parsed in the large lane only. */
export const LARGE_MESSAGE_BYTES = 256 * 1024;
// SHA-256 digests of messages whose parse overran its deadline or heap; bounded, oldest first out.
const MAX_REMEMBERED_OVERRUNS = 1000;

/**
 * Small messages handed to one worker before the earlier ones are answered. A worker's answer
 * reaches the event loop only when the loop next polls, which under load is a few ms later; one
 * message per worker at a time capped the pool at a couple of parses per loop turn, and messages
 * queued for a parse that takes 0.3 ms (measured: 33 ms p90 wait at 600 msg/s). A few in hand
 * per worker keeps it busy between turns. Large messages are never pipelined behind. Messages
 * behind a parse that runs long (a hostile message, most likely) are not left to share its fate:
 * past STALL_MS they are copied again from the caller's bytes and handed to another worker.
 */
export const PIPELINE_DEPTH = 4;
const STALL_MS = 100;

interface Job {
  buf: ArrayBuffer;
  large: boolean;
  /** The caller's bytes, hashed only if the parse overruns (the copy in `buf` is transferred). */
  raw: Uint8Array;
  /** Date.now() by which the parse must be done. */
  deadline: number;
  resolve: (r: ParseResult) => void;
}

/** A job handed to a worker: posted once the worker is ready; settled once answered or failed. */
interface Handed {
  job: Job;
  id: number;
  posted: boolean;
  settled: boolean;
}

interface Slot {
  worker: Worker | null;
  /** The worker's answers (protocol.ts, WorkerData), and what reads one. */
  replies: MessagePort | null;
  read: (m: WorkerReply) => void;
  ready: boolean;
  large: boolean;
  /** In the order the worker parses them: the first unsettled-or-not is the one being parsed. */
  handed: Handed[];
  /** When the first job in `handed` started being parsed (its predecessor answered, or it was posted). */
  headSince: number;
  timer: ReturnType<typeof setTimeout> | null;
  /** Waiting for the current worker's start: called with null once it is ready, or with why it failed. */
  starting: ((failed: string | null) => void)[];
}

export function createMessageParser(opts: MessageParserOptions): MessageParser {
  for (const [key, value] of Object.entries(opts)) {
    if (!Number.isInteger(value) || value < (key === 'workers' ? 0 : 1))
      throw new RangeError(`createMessageParser: ${key} must be a positive integer, got ${value}`);
  }
  const limits: ParseLimits = { maxDepth: opts.maxDepth, maxParts: opts.maxParts, maxHeaderBytes: opts.maxHeaderBytes };
  const total = Math.max(2, opts.workers || availableParallelism());
  const largeCount = Math.max(1, Math.floor(total / 2));
  const slots: Slot[] = Array.from({ length: total }, (_, i) => ({
    worker: null,
    replies: null,
    read: () => undefined,
    ready: false,
    large: i < largeCount,
    handed: [],
    headSince: 0,
    timer: null,
    starting: [],
  }));
  const queue: Job[] = [];
  const overruns = new Set<string>();
  const digestOf = (raw: Uint8Array): string => createHash('sha256').update(raw).digest('base64');
  const remember = (raw: Uint8Array): void => {
    overruns.add(digestOf(raw));
    if (overruns.size > MAX_REMEMBERED_OVERRUNS) overruns.delete(overruns.values().next().value as string);
  };
  const stallMs = opts.stallMs ?? Math.max(1, Math.min(STALL_MS, Math.floor(opts.timeoutMs / 4)));
  let nextId = 0;
  let closed = false;

  function settle(h: Handed, result: ParseResult): void {
    if (h.settled) return;
    h.settled = true;
    h.job.resolve(result);
  }

  function waitedTooLong(): ParseResult {
    return failure({ kind: 'timeout', detail: `no parse worker was free within ${opts.timeoutMs} ms` });
  }

  function spawn(slot: Slot): void {
    // Taken before the constructor, which on a loaded machine can itself take several ms: all
    // of the start-up is given back to the messages, or a bomb's overrun looks like a wait.
    const spawnedAt = Date.now();
    const { port1: replies, port2 } = new MessageChannel();
    const data: WorkerData = { limits, replies: port2 };
    const worker = new Worker(workerEntry(), {
      workerData: data,
      transferList: [port2],
      resourceLimits: { maxOldGenerationSizeMb: opts.heapMb, maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
      stdout: false,
      stderr: false,
    });
    // Idle workers must not keep the process alive; a job in flight holds its deadline timer.
    worker.unref();
    slot.worker = worker;
    slot.replies = replies;
    slot.ready = false;
    const crashed = (detail: string): ParseResult => failure({ kind: 'crashed', detail });
    const startup = setTimeout(
      () => broken(slot, worker, crashed(`not ready within ${STARTUP_GRACE_MS} ms`)),
      STARTUP_GRACE_MS,
    );
    slot.read = (m: WorkerReply) => {
      if (slot.worker !== worker) return;
      if (m.kind !== 'ready') return answered(slot, m);
      clearTimeout(startup);
      slot.ready = true;
      for (const done of slot.starting.splice(0)) done(null);
      // Starting a worker is not the messages' fault: that time is given back.
      const spent = Date.now() - spawnedAt;
      for (const h of slot.handed) h.job.deadline += spent;
      post(slot);
    };
    replies.on('message', slot.read);
    // An open port with a listener would keep the process alive, like a ref'd worker.
    replies.unref();
    worker.on('error', (err: Error) => {
      clearTimeout(startup);
      readSent(slot, worker);
      const oom = (err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY';
      const head = slot.handed.find((h) => h.posted);
      if (oom && head && slot.worker === worker) remember(head.job.raw);
      broken(
        slot,
        worker,
        crashed(oom ? `parse worker exceeded its ${opts.heapMb} MB heap` : `parse worker failed: ${err.message}`),
      );
    });
    worker.once('exit', (code) => {
      clearTimeout(startup);
      readSent(slot, worker);
      broken(slot, worker, crashed(`parse worker exited with code ${code}`));
    });
  }

  /** A parse result from the slot's current worker. */
  function answered(slot: Slot, m: Extract<WorkerReply, { kind: 'result' }>): void {
    const at = slot.handed.findIndex((h) => h.id === m.id);
    if (at < 0) return;
    const [h] = slot.handed.splice(at, 1) as [Handed];
    settle(h, m.result);
    slot.headSince = Date.now();
    arm(slot);
    pump();
  }

  /**
   * The worker is gone or must go. The message it was parsing (the first handed to it) gets
   * `result`; the ones queued behind it in the worker were never started and go back to the
   * front of the queue, keeping their deadlines. A worker that never started fails all its
   * messages: starting another for them would most likely fail the same way.
   */
  function broken(slot: Slot, worker: Worker, result: ParseResult): void {
    if (slot.worker !== worker) return;
    const started = slot.ready;
    retire(slot);
    if (!started) {
      const why = result.ok ? '' : `: ${result.failure.detail}`;
      for (const done of slot.starting.splice(0)) done(`parse worker failed to start${why}`);
      for (const h of slot.handed.splice(0))
        settle(h, failure({ kind: 'crashed', detail: `parse worker failed to start${why}` }));
      return pump();
    }
    const [head, ...behind] = slot.handed.splice(0);
    if (head?.posted) settle(head, result);
    else if (head) behind.unshift(head);
    // A posted message's bytes went to the dead worker with it: copied again from the caller's.
    queue.unshift(...behind.filter((h) => !h.settled).map((h) => (h.posted ? again(h.job) : h.job)));
    pump();
  }

  function again(job: Job): Job {
    const copy = new Uint8Array(job.raw.byteLength);
    copy.set(job.raw);
    return { ...job, buf: copy.buffer };
  }

  function retire(slot: Slot): void {
    const worker = slot.worker;
    slot.worker = null;
    slot.replies?.close();
    slot.replies = null;
    slot.ready = false;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    if (worker) void worker.terminate().catch(() => undefined);
  }

  function post(slot: Slot): void {
    const worker = slot.worker;
    if (!worker || !slot.ready) return;
    for (const h of [...slot.handed]) {
      if (h.posted) continue;
      if (slot.handed[0] === h) slot.headSince = Date.now();
      try {
        const req: ParseRequest = { id: h.id, buf: h.job.buf };
        worker.postMessage(req, [h.job.buf]);
        h.posted = true;
      } catch (err) {
        slot.handed.splice(slot.handed.indexOf(h), 1);
        settle(
          h,
          failure({
            kind: 'crashed',
            detail: `could not hand the message to a parse worker: ${err instanceof Error ? err.message : String(err)}`,
          }),
        );
      }
    }
    arm(slot);
  }

  /** The first job handed to a worker is the one it is parsing; already answered (its wait ran out), it still gets one deadline of its own. */
  function headLimit(slot: Slot, head: Handed): number {
    return head.settled ? slot.headSince + opts.timeoutMs : head.job.deadline;
  }

  /**
   * One timer per worker, at the earliest deadline among its jobs. Past the deadline of the job
   * being parsed, the worker is stopped. A job behind it that runs out of time while waiting is
   * answered as a wait timeout, and its late answer ignored.
   */
  function arm(slot: Slot): void {
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    let at = Infinity;
    slot.handed.forEach((h, i) => {
      if (!h.posted) return;
      if (i === 0) at = Math.min(at, headLimit(slot, h));
      else if (!h.settled) at = Math.min(at, h.job.deadline, slot.headSince + stallMs);
    });
    if (at === Infinity) return;
    slot.timer = setTimeout(() => expire(slot), Math.max(1, at - Date.now()));
  }

  /**
   * Reads, now, the answers `worker` has already sent. A loop turn that ran long reaches due
   * timers before the messages other threads sent meanwhile: without this, a parse finished in
   * time could be judged overrun (451, and remembered as a bomb) or stalled (its followers parsed
   * twice). A worker's error or exit comes on another channel than its answers; reading them
   * first there too means that the message a dying worker was parsing never depends on which
   * channel the loop serves first.
   */
  function readSent(slot: Slot, worker: Worker): void {
    const port = slot.replies;
    // The port belongs to the slot's current worker: never read a successor's answers here.
    if (!port || slot.worker !== worker) return;
    for (let m = receiveMessageOnPort(port); m && slot.worker === worker; m = receiveMessageOnPort(port))
      slot.read(m.message as WorkerReply);
  }

  function expire(slot: Slot): void {
    slot.timer = null;
    const worker = slot.worker;
    if (!worker) return;
    readSent(slot, worker);
    if (slot.worker !== worker) return;
    const now = Date.now();
    const head = slot.handed[0];
    if (head?.posted && now >= headLimit(slot, head)) {
      // Only a parse that had the whole deadline to itself marks the message as a bomb: one cut
      // short by queue wait may be an ordinary message on a busy pool, and gets 451 only.
      const whole =
        headLimit(slot, head) - slot.headSince >=
        opts.timeoutMs - Math.max(QUEUE_TOLERANCE_MS, opts.timeoutMs * QUEUE_TOLERANCE_SHARE);
      if (whole) remember(head.job.raw);
      const detail = whole
        ? `MIME parse took longer than ${opts.timeoutMs} ms`
        : `MIME parse not finished ${opts.timeoutMs} ms after the message arrived (it waited for a parse worker first)`;
      return broken(slot, worker, failure({ kind: 'timeout', detail }));
    }
    const stalled = stalledAt(slot);
    for (const h of slot.handed) {
      if (h === head || !h.posted || h.settled) continue;
      if (now >= h.job.deadline) settle(h, waitedTooLong());
      else if (stalled) {
        // Its bytes went to this worker; the caller's are still here. Its answer from this
        // worker, if one ever comes, is ignored.
        h.settled = true;
        queue.unshift(again(h.job));
      }
    }
    arm(slot);
    pump();
  }

  /** Where a job may go now: a large one only to an idle large-lane worker; a small one to the least busy worker with room, never behind a large one. */
  function slotFor(job: Job): Slot | undefined {
    let best: Slot | undefined;
    for (const slot of slots) {
      if (job.large && !slot.large) continue;
      const n = slot.handed.length;
      if (job.large ? n > 0 : n >= PIPELINE_DEPTH || slot.handed.some((h) => h.job.large) || stalledAt(slot)) continue;
      // Small lane first on a tie, so a large-lane worker stays free for large ones when it can.
      if (!best || n < best.handed.length || (n === best.handed.length && best.large && !slot.large)) best = slot;
    }
    return best;
  }

  /** Nothing more is handed to a worker whose current parse has run past stallMs. */
  function stalledAt(slot: Slot): boolean {
    const head = slot.handed[0];
    return head !== undefined && head.posted && Date.now() >= slot.headSince + stallMs;
  }

  function pump(): void {
    if (closed) return;
    for (let i = 0; i < queue.length;) {
      const job = queue[i] as Job;
      if (Date.now() >= job.deadline) {
        queue.splice(i, 1);
        job.resolve(waitedTooLong());
        continue;
      }
      const slot = slotFor(job);
      if (!slot) {
        i++;
        continue;
      }
      queue.splice(i, 1);
      slot.handed.push({ job, id: ++nextId, posted: false, settled: false });
      if (!slot.worker) {
        try {
          spawn(slot);
        } catch (err) {
          const h = slot.handed.pop() as Handed;
          settle(
            h,
            failure({
              kind: 'crashed',
              detail: `parse worker unavailable: ${err instanceof Error ? err.message : String(err)}`,
            }),
          );
          retire(slot);
          continue;
        }
      }
      post(slot);
    }
  }

  return {
    parse(raw: Uint8Array): Promise<ParseResult> {
      return new Promise<ParseResult>((resolve) => {
        if (closed) return resolve(failure({ kind: 'crashed', detail: 'parser closed' }));
        try {
          if (overruns.size > 0 && overruns.has(digestOf(raw))) {
            return resolve(
              failure({
                kind: 'limit',
                limit: 'parse_time',
                detail: `message already exceeded the parse deadline (${opts.timeoutMs} ms) or heap once; refused without parsing it again`,
              }),
            );
          }
          // One copy (a memcpy), transferred to the worker without another: the caller keeps its
          // bytes (the dedupe key is a hash of them), and a Buffer from Node's pool must never be
          // detached.
          const copy = new Uint8Array(raw.byteLength);
          copy.set(raw);
          queue.push({
            buf: copy.buffer,
            large: raw.byteLength > LARGE_MESSAGE_BYTES,
            raw,
            deadline: Date.now() + opts.timeoutMs,
            resolve,
          });
          pump();
        } catch (err) {
          resolve(
            failure({
              kind: 'crashed',
              detail: `could not hand the message to a parse worker: ${err instanceof Error ? err.message : String(err)}`,
            }),
          );
        }
      });
    },
    warm(): Promise<string[]> {
      const outcomes: Promise<string | null>[] = [];
      for (const slot of closed ? [] : slots) {
        if (slot.worker) continue;
        try {
          spawn(slot);
        } catch (err) {
          retire(slot);
          outcomes.push(
            Promise.resolve(`parse worker unavailable: ${err instanceof Error ? err.message : String(err)}`),
          );
          continue;
        }
        outcomes.push(new Promise((resolve) => slot.starting.push(resolve)));
      }
      return Promise.all(outcomes).then((all) => all.filter((why): why is string => why !== null));
    },
    async close(): Promise<void> {
      closed = true;
      const workers = slots.map((s) => s.worker).filter((w): w is Worker => w !== null);
      for (const job of queue.splice(0)) job.resolve(failure({ kind: 'crashed', detail: 'parser closed' }));
      for (const s of slots) {
        for (const done of s.starting.splice(0)) done('parser closed');
        retire(s);
        for (const h of s.handed.splice(0)) settle(h, failure({ kind: 'crashed', detail: 'parser closed' }));
      }
      await Promise.all(workers.map((w) => w.terminate().catch(() => undefined)));
    },
  };
}

function failure(f: ParseFailure): ParseResult {
  return { ok: false, failure: f };
}
