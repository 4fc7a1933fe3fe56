// The DATA stream, bounded. smtp-server ends DATA only on CRLF.CRLF (segmentation-safe since
// 3.19.3) but passes bare CR, bare LF and NUL through (docs/threat-model.md finding 1). The gateway is
// the outbound side of a smuggling chain, so it decides here:
//  - NUL: refused (554 5.6.0) — no mail format needs it and parsers disagree about it;
//  - bare LF: a line break (scripts write \n; Postfix normalises the same way by default);
//  - bare CR: replaced by a space (Postfix's cleanup_replace_stray_cr_lf), so it can never
//    become a line break further down.
// Past the size limit it keeps draining without buffering, so the dialogue stays in sync,
// and answers 552 at the end with zero API calls.
import type { Readable } from 'node:stream';
import type { Refusal } from '../delivery/outcome.ts';

export type DataRead = { ok: true; raw: Buffer; normalized: boolean } | { ok: false; refusal: Refusal };

export async function readData(stream: Readable & { sizeExceeded?: boolean }, maxBytes: number): Promise<DataRead> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= maxBytes) chunks.push(chunk);
  }
  if (size > maxBytes || stream.sizeExceeded) {
    return {
      ok: false,
      refusal: { kind: 'too_large', reason: `message is ${size} bytes, the limit is ${maxBytes} bytes` },
    };
  }
  const raw = Buffer.concat(chunks, size);
  const nul = raw.indexOf(0);
  if (nul !== -1)
    return { ok: false, refusal: { kind: 'content_invalid', reason: `message contains a NUL byte (offset ${nul})` } };
  if (!hasStrayLineEnding(raw)) return { ok: true, raw, normalized: false };
  return { ok: true, raw: normalizeLineEndings(raw), normalized: true };
}

function hasStrayLineEnding(buf: Buffer): boolean {
  for (let i = buf.indexOf(13); i !== -1; i = buf.indexOf(13, i + 1)) if (buf[i + 1] !== 10) return true;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) if (i === 0 || buf[i - 1] !== 13) return true;
  return false;
}

export function normalizeLineEndings(buf: Buffer): Buffer {
  const out = Buffer.allocUnsafe(buf.length * 2);
  let o = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i] as number;
    if (b === 13) {
      if (buf[i + 1] === 10) {
        out[o++] = 13;
        out[o++] = 10;
        i++;
      } else {
        out[o++] = 32;
      }
    } else if (b === 10) {
      out[o++] = 13;
      out[o++] = 10;
    } else {
      out[o++] = b;
    }
  }
  return out.subarray(0, o);
}
