// The JSON body of POST /v2/emails, built once per message rather than once per recipient.
// delivery/payload.ts gives every recipient of a message the same `content` and `attachment`
// objects (the 20 KB–10 MB part) and a small object of its own around them; those two are
// serialised the first time they are seen and the text reused, keyed by object identity in a
// WeakMap (gone with the message). The output is byte for byte JSON.stringify(email).
import type { SubmitEmail } from './types.ts';

/** Fields shared by all recipients of a message and never changed after the payload is built. */
const SHARED = new Set(['content', 'attachment']);

export class EmailSerializer {
  readonly #cache = new WeakMap<object, string>();

  serialize(email: SubmitEmail): string {
    let out = '{';
    for (const key of Object.keys(email)) {
      const value = (email as unknown as Record<string, unknown>)[key];
      if (value === undefined || typeof value === 'function') continue;
      const json = SHARED.has(key) && typeof value === 'object' && value !== null ? this.#shared(value) : JSON.stringify(value);
      out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${json}`;
    }
    return out + '}';
  }

  #shared(value: object): string {
    let json = this.#cache.get(value);
    if (json === undefined) {
      json = JSON.stringify(value);
      this.#cache.set(value, json);
    }
    return json;
  }
}
