// The account's confirmed senders, so that a From address becomes a `sender.id`
// (docs/cakemail-api.md §7.3). Cached per account with a TTL; a miss on a list older than
// MISS_REFRESH_MS refetches once, so a sender confirmed a minute ago works without a restart.
import type { ApiResult } from './errors.ts';
import type { CakemailClient } from './client.ts';
import type { Credential } from './tokens.ts';
import type { Sender } from './types.ts';

const DEFAULT_PER_PAGE = 100;
const MAX_PAGES = 100;
const MISS_REFRESH_MS = 30_000;

interface SenderList {
  loadedAt: number;
  byEmail: Map<string, Sender>;
  byId: Map<string, Sender>;
}

export type SenderLookup = { kind: 'email'; address: string } | { kind: 'id'; id: string };

export interface SenderDirectoryOptions {
  client: CakemailClient;
  ttlMs: number;
  /** Page size of the senders listing (the API's maximum is 100). */
  perPage?: number;
  now?: () => number;
}

export class SenderDirectory {
  readonly #client: CakemailClient;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #perPage: number;
  readonly #lists = new Map<string, SenderList>();
  readonly #inflight = new Map<string, Promise<ApiResult<SenderList>>>();

  constructor(opts: SenderDirectoryOptions) {
    this.#client = opts.client;
    this.#ttlMs = opts.ttlMs;
    this.#now = opts.now ?? Date.now;
    this.#perPage = opts.perPage ?? DEFAULT_PER_PAGE;
  }

  /** The confirmed sender matching the lookup (email case-insensitive), or null. */
  async find(credential: Credential, lookup: SenderLookup, signal?: AbortSignal): Promise<ApiResult<Sender | null>> {
    let list = this.#lists.get(credential.accountKey);
    if (!list || this.#now() - list.loadedAt > this.#ttlMs) {
      const res = await this.#load(credential, signal);
      if (!res.ok) return res;
      list = res.value;
    }
    let hit = match(list, lookup);
    if (!hit && this.#now() - list.loadedAt > MISS_REFRESH_MS) {
      const res = await this.#load(credential, signal);
      if (!res.ok) return res;
      hit = match(res.value, lookup);
    }
    return { ok: true, status: 200, value: hit ?? null };
  }

  /** Forget an account's list (after the API refused a sender we thought confirmed). */
  invalidate(accountKey: string): void {
    this.#lists.delete(accountKey);
  }

  #load(credential: Credential, signal?: AbortSignal): Promise<ApiResult<SenderList>> {
    const running = this.#inflight.get(credential.accountKey);
    if (running) return running;
    const p = this.#fetchAll(credential, signal).finally(() => this.#inflight.delete(credential.accountKey));
    this.#inflight.set(credential.accountKey, p);
    return p;
  }

  async #fetchAll(credential: Credential, signal?: AbortSignal): Promise<ApiResult<SenderList>> {
    const list: SenderList = { loadedAt: this.#now(), byEmail: new Map(), byId: new Map() };
    for (let page = 1; page <= MAX_PAGES; page++) {
      let bearer = await credential.bearer(signal);
      if (!bearer.ok) return bearer;
      let res = await this.#client.senders(bearer.value, page, this.#perPage, credential.accountId, signal);
      if (!res.ok && res.error.kind === 'http' && res.error.status === 401) {
        bearer = await credential.renew(signal);
        if (!bearer.ok) return bearer;
        res = await this.#client.senders(bearer.value, page, this.#perPage, credential.accountId, signal);
      }
      if (!res.ok) return res;
      for (const s of res.value.data) {
        if (s.confirmed !== true || typeof s.email !== 'string') continue;
        list.byEmail.set(s.email.toLowerCase(), s);
        list.byId.set(String(s.id), s);
      }
      if (res.value.data.length < this.#perPage) break;
    }
    this.#lists.set(credential.accountKey, list);
    return { ok: true, status: 200, value: list };
  }
}

function match(list: SenderList, lookup: SenderLookup): Sender | undefined {
  return lookup.kind === 'email' ? list.byEmail.get(lookup.address.toLowerCase()) : list.byId.get(lookup.id);
}
