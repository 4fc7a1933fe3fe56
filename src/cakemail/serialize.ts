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

/**
 * JSON already made for some string fields of an object (the bodies, by the parse worker): the
 * bytes of JSON.stringify(value), used while the field still holds exactly `value`.
 */
export const PRE_ENCODED: unique symbol = Symbol('pre-encoded JSON');
export type PreEncoded = Record<string, { value: string; json: Uint8Array }>;

/** Attaches pre-made JSON to `target`, out of sight of JSON.stringify, Object.keys and deepEqual. */
export function attachEncoded(target: object, encoded: PreEncoded): void {
  Object.defineProperty(target, PRE_ENCODED, { value: encoded, enumerable: false, configurable: true });
}

export class EmailSerializer {
  readonly #cache = new WeakMap<object, Buffer>();

  serialize(email: SubmitEmail): Buffer {
    return concat(
      this.#object(email as unknown as Record<string, unknown>, undefined, (key, value) =>
        SHARED.has(key) && typeof value === 'object' && value !== null ? this.#shared(value) : undefined,
      ),
    );
  }

  #shared(value: object): Buffer {
    let json = this.#cache.get(value);
    if (json === undefined) {
      const encoded = (value as { [PRE_ENCODED]?: PreEncoded })[PRE_ENCODED];
      json =
        encoded && typeof (value as { toJSON?: unknown }).toJSON !== 'function'
          ? concat(this.#object(value as Record<string, unknown>, encoded))
          : Buffer.from(JSON.stringify(value));
      this.#cache.set(value, json);
    }
    return json;
  }

  /** `{…}` of a plain object as byte chunks, as JSON.stringify would write it; `bytes` may supply a field's JSON. */
  #object(
    obj: Record<string, unknown>,
    encoded: PreEncoded | undefined,
    bytes?: (key: string, value: unknown) => Uint8Array | undefined,
  ): Uint8Array[] {
    const parts: Uint8Array[] = [];
    let text = '{';
    let first = true;
    for (const key of Object.keys(obj)) {
      const value = obj[key];
      if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
      text += `${first ? '' : ','}${JSON.stringify(key)}:`;
      first = false;
      const pre = encoded?.[key];
      const made = pre && pre.value === value ? pre.json : bytes?.(key, value);
      if (made) {
        parts.push(Buffer.from(text), made);
        text = '';
      } else {
        text += JSON.stringify(value);
      }
    }
    parts.push(Buffer.from(text + '}'));
    return parts;
  }
}

function concat(parts: Uint8Array[]): Buffer {
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}
