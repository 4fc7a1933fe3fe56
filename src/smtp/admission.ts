// Connection admission, per process and across both listeners: MAX_CONNECTIONS slots in all,
// MAX_CONNECTIONS_PER_IP of them per client (IPv6 per /64), TRUSTED_CIDRS exempt from the
// per-client cap. Counts are per process on purpose: a connection lives on one process, so a
// fleet-wide count would add a network round trip to every connect and buy nothing.
//
// A ticket is a held slot. It is taken when the socket is accepted (before any PROXY header or
// TLS handshake, which are the cheap ways to hold a slot) and given back exactly once, when
// the socket closes or is refused: the connection gauge moves only here, so it stays exact
// under floods. A connection counts as admitted (connections_total, and its duration when it
// ends) once its client is known and within its cap.
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { clientKey, type CidrMatcher } from '../lib/cidr.ts';
import { connectionReplies, type Reply } from '../delivery/replies.ts';

export type ListenerName = 'submission' | 'smtps' | 'alt_submission';

export interface AdmissionOptions {
  maxConnections: number;
  maxPerIp: number;
  trusted: CidrMatcher;
  logger: Logger;
  metrics: Metrics;
  /** One refusal log line per reason and client per this interval (ms). */
  logIntervalMs?: number;
}

export type Entry = { ok: true; ticket: Ticket } | { ok: false; reply: Reply };

export class Admission {
  readonly #o: AdmissionOptions;
  readonly #perClient = new Map<string, number>();
  readonly #refusals: RefusalLog;
  #open = 0;
  #draining = false;

  constructor(options: AdmissionOptions) {
    this.#o = options;
    this.#refusals = new RefusalLog(options.logger, options.logIntervalMs ?? 60_000);
  }

  /** From now on every new connection is refused with 421 4.3.2 (graceful shutdown). */
  drain(): void {
    this.#draining = true;
  }

  /** Takes a process-wide slot for a just-accepted socket. */
  enter(listener: ListenerName): Entry {
    if (this.#draining) return { ok: false, reply: connectionReplies.draining };
    if (this.#open >= this.#o.maxConnections) return { ok: false, reply: connectionReplies.maxConnections };
    this.#open++;
    this.#o.metrics.connections.inc({ listener });
    return { ok: true, ticket: new Ticket(this, listener) };
  }

  /** Counts and logs (rate-limited) a connection refused for `reply.label`. */
  refuse(reply: Reply, listener: ListenerName, client: string, detail?: string): void {
    this.#o.metrics.connectionsRefused.inc({ reason: reply.label });
    this.#refusals.note(reply.label, listener, client, detail);
  }

  close(): void {
    this.#refusals.close();
  }

  /**
   * @internal Ticket → admission: the per-client count, once the client is known. Returns the
   * key counted under ('' when refused, undefined for a trusted client).
   */
  bindClient(listener: ListenerName, address: string): string | undefined {
    let key: string | undefined;
    if (!this.#o.trusted(address)) {
      key = clientKey(address);
      const n = this.#perClient.get(key) ?? 0;
      if (n >= this.#o.maxPerIp) return '';
      this.#perClient.set(key, n + 1);
    }
    this.#o.metrics.connectionsTotal.inc({ listener });
    return key;
  }

  /** @internal `seconds` is undefined for a connection refused before its session. */
  leave(listener: ListenerName, key: string | undefined, seconds: number | undefined): void {
    this.#open--;
    this.#o.metrics.connections.dec({ listener });
    if (seconds !== undefined) this.#o.metrics.connectionDuration.observe({ listener }, seconds);
    if (key === undefined) return;
    const n = (this.#perClient.get(key) ?? 1) - 1;
    if (n <= 0) this.#perClient.delete(key);
    else this.#perClient.set(key, n);
  }
}

/** One held slot; `release()` may be called any number of times, it counts once. */
export class Ticket {
  readonly #admission: Admission;
  readonly listener: ListenerName;
  readonly #started = performance.now();
  #key: string | undefined;
  #admitted = false;
  #released = false;

  constructor(admission: Admission, listener: ListenerName) {
    this.#admission = admission;
    this.listener = listener;
  }

  /** Counts the connection against its client; false if the client is at its cap. */
  bindClient(address: string): boolean {
    const key = this.#admission.bindClient(this.listener, address);
    if (key === '') return false;
    this.#key = key;
    this.#admitted = true;
    return true;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#admission.leave(
      this.listener,
      this.#key,
      this.#admitted ? (performance.now() - this.#started) / 1000 : undefined,
    );
  }
}

/** Most distinct (reason, client) pairs remembered for log suppression. */
const MAX_TRACKED = 10_000;

/**
 * A flood must not become a log flood: the first refusal of a (reason, client) pair is logged,
 * the next ones in the interval are only counted and reported on the following line (or by the
 * periodic flush). Every refusal is in the metric regardless.
 */
class RefusalLog {
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #entries = new Map<
    string,
    { until: number; suppressed: number; reason: string; listener: ListenerName; client: string }
  >();
  #overflow = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(logger: Logger, intervalMs: number) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
    this.#timer = setInterval(() => this.#flush(false), intervalMs);
    this.#timer.unref();
  }

  note(reason: string, listener: ListenerName, client: string, detail: string | undefined): void {
    const key = `${reason} ${client}`;
    const now = Date.now();
    const entry = this.#entries.get(key);
    if (entry && now < entry.until) {
      entry.suppressed++;
      return;
    }
    if (!entry && this.#entries.size >= MAX_TRACKED) {
      this.#overflow++;
      return;
    }
    this.#logger.warn(
      { reason, listener, client, ...(detail ? { detail } : {}), suppressed: entry?.suppressed ?? 0 },
      'connection refused',
    );
    this.#entries.set(key, { until: now + this.#intervalMs, suppressed: 0, reason, listener, client });
  }

  /** Reports the counts held back; `all` also for intervals still running (at shutdown). */
  #flush(all: boolean): void {
    const now = Date.now();
    for (const [key, e] of this.#entries) {
      if (now < e.until && !all) continue;
      if (e.suppressed > 0)
        this.#logger.warn(
          { reason: e.reason, listener: e.listener, client: e.client, suppressed: e.suppressed },
          'connection refusals not logged individually',
        );
      this.#entries.delete(key);
    }
    if (this.#overflow > 0) {
      this.#logger.warn(
        { suppressed: this.#overflow },
        'connection refusals from too many addresses to log individually',
      );
      this.#overflow = 0;
    }
  }

  close(): void {
    clearInterval(this.#timer);
    this.#flush(true);
  }
}
