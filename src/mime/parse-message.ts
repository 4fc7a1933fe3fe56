// One parse, start to finish, as it runs inside a worker: the MIME tree (tree.ts), the bodies and
// attachments (body.ts), the header fields (convert.ts). Every exception becomes a typed
// ParseFailure here, so nothing escapes the worker.
import { UnsupportedContentError } from './body.ts';
import { toParsedMessage } from './convert.ts';
import type { ParseLimits } from './protocol.ts';
import { loadTextFormat } from './text-format.ts';
import { MimeLimitError, newBudget, parseTree } from './tree.ts';
import type { ParseFailure, ParseResult } from './types.ts';

// Haraka's headers.max_lines: a message with more top-level fields is not mail but a probe.
export const MAX_HEADER_FIELDS = 1000;

export async function parseMessage(buf: ArrayBuffer, limits: ParseLimits): Promise<ParseResult> {
  try {
    const format = await loadTextFormat();
    const budget = newBudget({ ...limits, maxHeaderFields: MAX_HEADER_FIELDS });
    const root = parseTree(Buffer.from(buf), budget);
    return { ok: true, message: toParsedMessage(root, budget, format) };
  } catch (err) {
    return { ok: false, failure: classify(err) };
  }
}

function classify(err: unknown): ParseFailure {
  if (err instanceof MimeLimitError) return { kind: 'limit', limit: err.limit, detail: err.detail };
  if (err instanceof UnsupportedContentError) return { kind: 'malformed', detail: err.message };
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof RangeError) {
    // Call-stack or allocation overflow: the message's structure caused it.
    return { kind: 'malformed', detail: `message structure could not be parsed (${message.slice(0, 100)})` };
  }
  return { kind: 'malformed', detail: `message could not be parsed (${message.slice(0, 100)})` };
}
