// The messages exchanged between the parser pool (main thread) and a parse worker.
import type { MessagePort } from 'node:worker_threads';
import type { ParseResult } from './types.ts';

export interface ParseLimits {
  maxDepth: number;
  maxParts: number;
  maxHeaderBytes: number;
}

/**
 * What a worker is started with. Its answers go on `replies`, not on parentPort: the pool reads
 * that port synchronously (`receiveMessageOnPort`) before it judges a parse overrun or stalled,
 * because a busy event loop runs due timers before it delivers messages from other threads, and
 * an answer already sent must not be taken for a parse still running.
 */
export interface WorkerData {
  limits: ParseLimits;
  replies: MessagePort;
}

/** Main → worker. `buf` is transferred, never shared. */
export interface ParseRequest {
  id: number;
  buf: ArrayBuffer;
}

/** Worker → main. Attachment buffers are transferred. */
export type WorkerReply = { kind: 'ready' } | { kind: 'result'; id: number; result: ParseResult };
