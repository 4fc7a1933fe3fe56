// One parse, start to finish, as it runs inside a worker: pre-scan, postal-mime with our limits,
// conversion. Every exception becomes a typed ParseFailure here, so nothing escapes the worker.
import PostalMime from 'postal-mime';
import { toParsedMessage } from './convert.ts';
import { countParts } from './prescan.ts';
import type { ParseLimits } from './protocol.ts';
import type { ParseFailure, ParseResult } from './types.ts';

// An inline (disposition-less) message/rfc822 part is shown in the body, one level deep. Deeper
// ones stay attachments (and follow the attachment policy, as an attached .eml does): each inline
// level is a fresh parse of the rest of the message, and a 40,000-level chain took 10.6 s of CPU
// with the default of 10 (docs/threat-model.md finding 4).
const RFC822_INLINE_DEPTH = 1;

export async function parseMessage(buf: ArrayBuffer, limits: ParseLimits): Promise<ParseResult> {
  try {
    const parts = countParts(new Uint8Array(buf), limits.maxParts);
    if (parts > limits.maxParts) {
      return fail({ kind: 'limit', limit: 'parts', detail: `MIME part count exceeds ${limits.maxParts}` });
    }
    const email = await PostalMime.parse(buf, {
      maxNestingDepth: limits.maxDepth,
      maxHeadersSize: limits.maxHeaderBytes,
      maxRfc822NestingDepth: RFC822_INLINE_DEPTH,
      attachmentEncoding: 'arraybuffer',
    });
    return { ok: true, message: toParsedMessage(email) };
  } catch (err) {
    return fail(classify(err, limits));
  }
}

function fail(failure: ParseFailure): ParseResult {
  return { ok: false, failure };
}

// postal-mime throws plain Errors for its limits; their texts are the only signal it gives, so
// they are matched here, in one place, and nowhere else.
function classify(err: unknown, limits: ParseLimits): ParseFailure {
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('Maximum MIME nesting depth')) {
    return { kind: 'limit', limit: 'depth', detail: `MIME nesting depth exceeds ${limits.maxDepth}` };
  }
  if (message.startsWith('Maximum header size')) {
    return { kind: 'limit', limit: 'header_bytes', detail: `MIME header size exceeds ${limits.maxHeaderBytes} bytes` };
  }
  if (err instanceof RangeError) {
    // Call-stack or allocation overflow inside the parser: the message's structure caused it.
    return { kind: 'malformed', detail: `message structure could not be parsed (${message.slice(0, 100)})` };
  }
  return { kind: 'malformed', detail: `message could not be parsed (${message.slice(0, 100)})` };
}
