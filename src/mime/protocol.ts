// The messages exchanged between the parser pool (main thread) and a parse worker.
import type { ParseResult } from './types.ts';

export interface ParseLimits {
  maxDepth: number;
  maxParts: number;
  maxHeaderBytes: number;
}

/** Main → worker. `buf` is transferred, never shared. */
export interface ParseRequest {
  id: number;
  buf: ArrayBuffer;
}

/** Worker → main. Attachment buffers are transferred. */
export type WorkerReply = { kind: 'ready' } | { kind: 'result'; id: number; result: ParseResult };
