// The JSON body of POST /v2/emails, built once per message rather than once per recipient.
// delivery/payload.ts gives every recipient of a message the same `content` and `attachment`
// objects (the 20 KB–10 MB part) and a small object of its own around them; those two are
// serialised and encoded to UTF-8 the first time they are seen, and the bytes reused, keyed by
// object identity in a WeakMap (gone with the message). Each recipient's body is then its own
// few hundred bytes around those shared bytes: one copy, no JSON work and no UTF-8 encoding of
// the large part per recipient, and the large part lives outside the JS heap (the garbage
// collector never copies it). The output is byte for byte the UTF-8 of JSON.stringify(email).
import type { SubmitEmail } from './types.ts';

/** Fields shared by all recipients of a message and never changed after the payload is built. */
const SHARED = new Set(['content', 'attachment']);

export class EmailSerializer {
  readonly #cache = new WeakMap<object, Buffer>();

  serialize(email: SubmitEmail): Buffer {
    const parts: Buffer[] = [];
    let small = '{';
    for (const key of Object.keys(email)) {
      const value = (email as unknown as Record<string, unknown>)[key];
      if (value === undefined || typeof value === 'function') continue;
      small += `${small.length > 1 || parts.length > 0 ? ',' : ''}${JSON.stringify(key)}:`;
      if (SHARED.has(key) && typeof value === 'object' && value !== null) {
        parts.push(Buffer.from(small), this.#shared(value));
        small = '';
      } else {
        small += JSON.stringify(value);
      }
    }
    parts.push(Buffer.from(small + '}'));
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  #shared(value: object): Buffer {
    let json = this.#cache.get(value);
    if (json === undefined) {
      json = Buffer.from(JSON.stringify(value));
      this.#cache.set(value, json);
    }
    return json;
  }
}
