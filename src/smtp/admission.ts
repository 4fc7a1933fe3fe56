// Connection admission, per process and across both listeners: MAX_CONNECTIONS slots in all,
// MAX_CONNECTIONS_PER_IP of them per client (IPv6 per /64) and MAX_CONNECTIONS_PER_PREFIX per
// network (IPv4 /24, IPv6 /48 by default), TRUSTED_CIDRS exempt from both per-client caps. Counts are per process on purpose: a connection lives on one process, so a
// fleet-wide count would add a network round trip to every connect and buy nothing.
//
// A ticket is a held slot. It is taken when the socket is accepted (before any PROXY header or
// TLS handshake, which are the cheap ways to hold a slot) and given back exactly once, when
// the socket closes or is refused: the connection gauge moves only here, so it stays exact
// under floods. A connection counts as admitted (connections_total, and its duration when it
// ends) once its client is known and within its caps.
//
// Slots go to those who use them (docs/security.md, "Idle floods"). Many addresses, each within
// its caps, can still hold every slot by connecting and saying nothing. So each ticket carries
// an occupant (what the connection is doing, and how to close it), and:
//  - at the cap, a new connection takes the slot of an idle unauthenticated one (of the client
//    holding the most connections, the one idle longest) instead of being refused;
//  - from STRESS_THRESHOLD_PERCENT of the cap, timeouts shrink (Postfix's stress-adaptive
//    timeouts): no command for STRESS_IDLE_TIMEOUT_MS, or not authenticated within
//    STRESS_AUTH_TIMEOUT_MS of connecting, and the connection is closed with 421. Time spent
//    waiting on us (a handler, a message being answered, a TLS handshake) is not idle.
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { clientKey, prefixKey, type CidrMatcher } from '../lib/cidr.ts';
import { connectionReplies, type Reply } from '../delivery/replies.ts';

/** How a slot is used, as admission needs to know it; set by whoever owns the socket now. */
export interface Occupant {
  /** Since when (ms, Date.now()) the client has sent no command while not waiting on us; null: busy. */
  idleSince(): number | null;
  authenticated(): boolean;
  /** Answers `reply` (a 421) where it can be read, and closes the connection. */
  cut(reply: Reply): void;
}

/** Under stress, connections are looked over this often (ms). */
const STRESS_SWEEP_MS = 1000;

export type ListenerName = 'submission' | 'smtps' | 'alt_submission';

export interface AdmissionOptions {
  maxConnections: number;
  maxPerIp: number;
  /** 0 = no per-prefix cap. */
  maxPerPrefix: number;
  prefixV4: number;
  prefixV6: number;
  /** From this many open connections on, the stress timeouts apply. */
  stressAt: number;
  stressIdleMs: number;
  stressAuthMs: number;
  trusted: CidrMatcher;
  logger: Logger;
  metrics: Metrics;
  /** One refusal log line per reason and client per this interval (ms). */
  logIntervalMs?: number;
  now?: () => number;
}

export type Entry = { ok: true; ticket: Ticket } | { ok: false; reply: Reply };

export class Admission {
  readonly #o: AdmissionOptions;
  readonly #perClient = new Map<string, number>();
  readonly #perPrefix = new Map<string, number>();
  /** Held tickets, oldest first. */
  readonly #held = new Set<Ticket>();
  readonly #refusals: RefusalLog;
  readonly #now: () => number;
  readonly #sweeper: NodeJS.Timeout;
  #open = 0;
  #draining = false;

  constructor(options: AdmissionOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#refusals = new RefusalLog(options.logger, options.logIntervalMs ?? 60_000);
    this.#sweeper = setInterval(() => this.sweep(), STRESS_SWEEP_MS);
    this.#sweeper.unref();
  }

  /** From now on every new connection is refused with 421 4.3.2 (graceful shutdown). */
  drain(): void {
    this.#draining = true;
  }

  /** Takes a process-wide slot for a just-accepted socket. */
  enter(listener: ListenerName): Entry {
    if (this.#draining) return { ok: false, reply: connectionReplies.draining };
    if (this.#open >= this.#o.maxConnections && !this.#evictOne())
      return { ok: false, reply: connectionReplies.maxConnections };
    this.#open++;
    this.#o.metrics.connections.inc({ listener });
    const ticket = new Ticket(this, listener, this.#now());
    this.#held.add(ticket);
    return { ok: true, ticket };
  }

  /**
   * Under stress (at or past the threshold), closes every connection idle past the short
   * timeout or unauthenticated past its bound. Runs on a timer; public for tests.
   */
  sweep(): void {
    if (this.#open < this.#o.stressAt) return;
    const now = this.#now();
    for (const ticket of this.#held) {
      const occupant = ticket.occupant;
      const idle = occupant?.idleSince();
      if (!occupant || idle === null || idle === undefined) continue;
      if (now - idle >= this.#o.stressIdleMs) this.#cut(ticket, connectionReplies.stressIdle(this.#o.stressIdleMs));
      else if (!occupant.authenticated() && now - ticket.started >= this.#o.stressAuthMs)
        this.#cut(ticket, connectionReplies.stressAuth(this.#o.stressAuthMs));
    }
  }

  /**
   * Frees the slot of an unauthenticated connection that is idle: of the client holding the
   * most connections, the one idle longest. A flood's many idle connections per address go
   * before a client's single one, and a client between two commands is rarely idle longest.
   * False when there is none (every connection authenticated or waiting on us).
   */
  #evictOne(): boolean {
    let victim: Ticket | undefined;
    let best: { held: number; idle: number } | undefined;
    for (const ticket of this.#held) {
      const occupant = ticket.occupant;
      if (!occupant || occupant.authenticated()) continue;
      const idle = occupant.idleSince();
      if (idle === null) continue;
      const held = ticket.clientKey === undefined ? 1 : (this.#perClient.get(ticket.clientKey) ?? 1);
      if (!best || held > best.held || (held === best.held && idle < best.idle)) {
        victim = ticket;
        best = { held, idle };
      }
    }
    if (!victim) return false;
    this.#cut(victim, connectionReplies.evicted);
    return true;
  }

  /** Gives the slot back at once (the next client may have it), then closes the connection. */
  #cut(ticket: Ticket, reply: Reply): void {
    const occupant = ticket.occupant;
    ticket.release();
    this.#o.metrics.deadlinesExceeded.inc({ limit: reply.label });
    this.#refusals.note(reply.label, ticket.listener, ticket.client ?? '', undefined, 'connection closed');
    occupant?.cut(reply);
  }

  /** Counts and logs (rate-limited) a connection refused for `reply.label`. */
  refuse(reply: Reply, listener: ListenerName, client: string, detail?: string): void {
    this.#o.metrics.connectionsRefused.inc({ reason: reply.label });
    this.#refusals.note(reply.label, listener, client, detail);
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#refusals.close();
  }

  /**
   * @internal Ticket → admission: the per-client and per-prefix counts, once the client is
   * known. Returns the keys counted under (null for a trusted client), or the refusal.
   */
  bindClient(listener: ListenerName, address: string): ClientKeys | Reply {
    let keys: ClientKeys = null;
    if (!this.#o.trusted(address)) {
      const client = clientKey(address);
      if ((this.#perClient.get(client) ?? 0) >= this.#o.maxPerIp) return connectionReplies.perIp;
      const prefix = this.#o.maxPerPrefix > 0 ? prefixKey(address, this.#o.prefixV4, this.#o.prefixV6) : null;
      if (prefix !== null && (this.#perPrefix.get(prefix) ?? 0) >= this.#o.maxPerPrefix)
        return connectionReplies.perPrefix;
      add(this.#perClient, client, 1);
      if (prefix !== null) add(this.#perPrefix, prefix, 1);
      keys = { client, prefix };
    }
    this.#o.metrics.connectionsTotal.inc({ listener });
    return keys;
  }

  /** @internal `seconds` is undefined for a connection refused before its session. */
  leave(ticket: Ticket, keys: ClientKeys, seconds: number | undefined): void {
    this.#held.delete(ticket);
    this.#open--;
    this.#o.metrics.connections.dec({ listener: ticket.listener });
    if (seconds !== undefined) this.#o.metrics.connectionDuration.observe({ listener: ticket.listener }, seconds);
    if (keys === null) return;
    add(this.#perClient, keys.client, -1);
    if (keys.prefix !== null) add(this.#perPrefix, keys.prefix, -1);
  }
}

/** What a connection is counted under; null for a trusted client (or one not yet known). */
type ClientKeys = { client: string; prefix: string | null } | null;

function add(counts: Map<string, number>, key: string, by: number): void {
  const n = (counts.get(key) ?? 0) + by;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}

/** One held slot; `release()` may be called any number of times, it counts once. */
export class Ticket {
  readonly #admission: Admission;
  readonly listener: ListenerName;
  /** When the slot was taken (ms, the admission's clock). */
  readonly started: number;
  readonly #startedPerf = performance.now();
  #keys: ClientKeys = null;
  #admitted = false;
  #released = false;
  /** The client's address once known. */
  client: string | undefined;
  occupant: Occupant | undefined;

  constructor(admission: Admission, listener: ListenerName, started: number) {
    this.#admission = admission;
    this.listener = listener;
    this.started = started;
  }

  /** The per-client key the connection is counted under (undefined: not yet known, or trusted). */
  get clientKey(): string | undefined {
    return this.#keys?.client;
  }

  /** Counts the connection against its client and network; the refusal if one is at its cap. */
  bindClient(address: string): Reply | null {
    this.client = address;
    const keys = this.#admission.bindClient(this.listener, address);
    if (keys !== null && 'code' in keys) return keys;
    this.#keys = keys;
    this.#admitted = true;
    return null;
  }

  /** From now on `occupant` says how the slot is used (and how to close its connection). */
  occupy(occupant: Occupant): void {
    this.occupant = occupant;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    this.occupant = undefined;
    this.#admission.leave(
      this,
      this.#keys,
      this.#admitted ? (performance.now() - this.#startedPerf) / 1000 : undefined,
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

  note(
    reason: string,
    listener: ListenerName,
    client: string,
    detail: string | undefined,
    message = 'connection refused',
  ): void {
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
      message,
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
