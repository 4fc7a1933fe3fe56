// Where traces are kept: the state store, so a fleet shares them through Redis (any pod answers
// GET /messages/<id> for a message another pod handled); without Redis a bounded memory store
// of their own, so traces can never evict dedupe records. Keys:
//   trace:m:<id>            the record (JSON), TRACE_TTL_S
//   trace:a:<other id>      → the trace id (the Cakemail id of a one-recipient 250, the spool id), TRACE_TTL_S
//   trace:i:<h>:n, :<k>     search index (recipient or Message-ID, hashed): a counter and one slot
//                           per message, kept one hour; the search reads the newest SEARCH_LIMIT slots.
// A failure to save is logged and counted by the store's health, never turned into a reply: a
// trace lost is not a message lost.
import { createHash } from 'node:crypto';
import type { Logger } from '../observability/logger.ts';
import type { StateStore } from '../state/store.ts';
import type { TraceRecord } from './record.ts';
import type { MessageTrace } from './trace.ts';

/** How far back a search by recipient or Message-ID reaches. */
export const SEARCH_WINDOW_S = 3600;
/** Newest messages a search returns per recipient or Message-ID. */
export const SEARCH_LIMIT = 50;

export interface TraceQuery {
  recipient?: string;
  messageId?: string;
}

export class TraceStore {
  readonly #store: StateStore;
  readonly #ttlS: number;
  readonly #log: Logger;

  constructor(store: StateStore, ttlS: number, logger: Logger) {
    this.#store = store;
    this.#ttlS = ttlS;
    this.#log = logger;
  }

  async save(trace: MessageTrace): Promise<void> {
    const r = trace.record();
    try {
      const keys = new Set(r.envelope.to.map((t) => indexKey('r', t)));
      if (r.messageId) keys.add(indexKey('m', r.messageId));
      // One step (one Redis round trip): a trace must not cost a message more calls than its send.
      await this.#store.writeIndexed({
        values: [
          { key: `trace:m:${r.id}`, value: JSON.stringify(r), ttlSeconds: this.#ttlS },
          ...r.aliases.map((a) => ({ key: `trace:a:${a}`, value: r.id, ttlSeconds: this.#ttlS })),
        ],
        indexes: [...keys].map((k) => ({ key: k, value: r.id, ttlSeconds: SEARCH_WINDOW_S })),
      });
    } catch (err) {
      this.#log.debug({ trace: r.id, err: (err as Error).message }, 'trace not saved: state store unavailable');
    }
  }

  /** A trace by its own id or by another id it carries (Cakemail id, spool id). */
  async get(id: string): Promise<TraceRecord | null> {
    if (!/^[\w.-]{1,100}$/.test(id)) return null;
    const direct = await this.#store.get(`trace:m:${id}`);
    if (direct) return JSON.parse(direct) as TraceRecord;
    const target = await this.#store.get(`trace:a:${id}`);
    if (!target) return null;
    const viaAlias = await this.#store.get(`trace:m:${target}`);
    return viaAlias ? (JSON.parse(viaAlias) as TraceRecord) : null;
  }

  /** Changes a stored trace (spool deliveries). Absent or expired: nothing to change. */
  async update(id: string, change: (r: TraceRecord) => void): Promise<void> {
    try {
      const r = await this.get(id);
      if (!r) return;
      change(r);
      await this.#store.set(`trace:m:${r.id}`, JSON.stringify(r), this.#ttlS);
    } catch (err) {
      this.#log.debug({ trace: id, err: (err as Error).message }, 'trace not updated: state store unavailable');
    }
  }

  /** Messages of the last hour to a recipient or with a Message-ID, newest first. */
  async search(q: TraceQuery, now = Date.now()): Promise<TraceRecord[]> {
    const key = q.recipient ? indexKey('r', q.recipient) : q.messageId ? indexKey('m', q.messageId) : null;
    if (!key) return [];
    const n = Number((await this.#store.get(`${key}:n`)) ?? 0);
    const out: TraceRecord[] = [];
    const seen = new Set<string>();
    for (let i = n; i > 0 && i > n - SEARCH_LIMIT; i--) {
      const id = await this.#store.get(`${key}:${i}`);
      if (!id || seen.has(id)) continue;
      seen.add(id);
      const r = await this.get(id);
      if (!r || now - Date.parse(r.receivedAt) > SEARCH_WINDOW_S * 1000) continue;
      // The hash is of the lower-cased value: check the record really matches.
      if (q.recipient && !r.envelope.to.some((t) => t.toLowerCase() === q.recipient!.toLowerCase())) continue;
      if (q.messageId && r.messageId !== normalizeMessageId(q.messageId)) continue;
      out.push(r);
    }
    return out;
  }
}

/** Message-IDs are compared without their angle brackets. */
export function normalizeMessageId(id: string): string {
  return id.trim().replace(/^<(.*)>$/, '$1');
}

/** Index keys carry a hash, never the address itself: key names show up in Redis tooling. */
function indexKey(kind: 'r' | 'm', value: string): string {
  const v = kind === 'r' ? value.toLowerCase() : normalizeMessageId(value);
  return `trace:i:${kind}:${createHash('sha256').update(v).digest('base64url').slice(0, 22)}`;
}
