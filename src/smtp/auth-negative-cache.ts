// A short memory of credentials Cakemail just refused, so that an application retrying a wrong
// password (a bad deploy, a rotated password) gets 535 without each retry becoming a
// `POST /token`: Cakemail may count those failures against the real user. Per process, keyed
// by an HMAC of username and password under a key random to this process (docs/architecture.md#semantics-that-never-bend): the
// password is never stored, and a key means nothing outside the process. A pair that becomes
// valid (the password was changed to it at Cakemail) is refused for at most TTL_MS more.
import { createHmac, randomBytes } from 'node:crypto';

const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

export class NegativeAuthCache {
  readonly #key = randomBytes(32);
  readonly #until = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  has(username: string, password: string): boolean {
    const k = this.#hmac(username, password);
    const until = this.#until.get(k);
    if (until === undefined) return false;
    if (until > this.#now()) return true;
    this.#until.delete(k);
    return false;
  }

  add(username: string, password: string): void {
    const k = this.#hmac(username, password);
    this.#until.delete(k);
    // Bounded: the oldest entry goes first (Map keeps insertion order, and every entry has the
    // same TTL, so the oldest is also the first to expire).
    while (this.#until.size >= MAX_ENTRIES) {
      const oldest = this.#until.keys().next();
      if (oldest.done) break;
      this.#until.delete(oldest.value);
    }
    this.#until.set(k, this.#now() + TTL_MS);
  }

  #hmac(username: string, password: string): string {
    return createHmac('sha256', this.#key).update(username).update('\0').update(password).digest('base64url');
  }
}
