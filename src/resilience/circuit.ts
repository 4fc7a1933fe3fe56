// Circuit breaker in front of `POST /v2/emails` (docs/security.md, "Circuit breaker").
// When most recent calls fail transiently, sending more only deepens the outage and makes
// every SMTP client upload a body that cannot be forwarded. So: count outcomes in a sliding
// window; at `failureRatio` over at least `minRequests` calls the circuit opens for `openMs`;
// then it lets one probe through at a time (half-open): a success closes it, a transient
// failure opens it again. Only transient failures count: a 400/422 is the sender's problem
// and says the API is up. State is per process (each pod learns on its own).
// A small state machine rather than a library: opossum 10 needs Node ≥ 22, and the RCPT
// hook needs to read the state without making a call, which wrapper-style breakers hide.
import { SlidingCounts } from './window.ts';

export type CircuitState = 'closed' | 'half_open' | 'open';

export interface CircuitOptions {
  failureRatio: number;
  minRequests: number;
  windowMs: number;
  openMs: number;
  now?: () => number;
  /** Called once per state change. */
  onTransition?: (from: CircuitState, to: CircuitState, info: { failures: number; requests: number }) => void;
}

/** Whether a call may go out now. `retryInS`: whole seconds until the next probe may. */
export type CircuitPermit = { ok: true; probe: boolean } | { ok: false; retryInS: number };

/** What one call's outcome means for the breaker. */
export type CallVerdict = 'success' | 'transient_failure' | 'neutral';

export class CircuitBreaker {
  readonly #o: Required<Omit<CircuitOptions, 'onTransition'>> & Pick<CircuitOptions, 'onTransition'>;
  #state: CircuitState = 'closed';
  #openedAt = 0;
  #probeInFlight = false;
  /** a = requests, b = transient failures, over the last windowMs. */
  readonly #counts: SlidingCounts;

  constructor(opts: CircuitOptions) {
    this.#o = { now: Date.now, ...opts };
    this.#counts = new SlidingCounts(this.#o.windowMs, this.#o.now);
  }

  get state(): CircuitState {
    this.#maybeHalfOpen();
    return this.#state;
  }

  /** For the RCPT hook: refuse early while open, without taking a probe slot. */
  peek(): CircuitPermit {
    this.#maybeHalfOpen();
    if (this.#state === 'open') return { ok: false, retryInS: this.#retryInS() };
    return { ok: true, probe: this.#state === 'half_open' };
  }

  /** Before a call. In half-open only one probe is in flight at a time. */
  acquire(): CircuitPermit {
    this.#maybeHalfOpen();
    if (this.#state === 'open') return { ok: false, retryInS: this.#retryInS() };
    if (this.#state === 'half_open') {
      if (this.#probeInFlight) return { ok: false, retryInS: 1 };
      this.#probeInFlight = true;
      return { ok: true, probe: true };
    }
    return { ok: true, probe: false };
  }

  /** After a call that `acquire` allowed. */
  record(verdict: CallVerdict, permit: Extract<CircuitPermit, { ok: true }>): void {
    if (permit.probe) {
      this.#probeInFlight = false;
      if (this.#state !== 'half_open') return;
      if (verdict === 'transient_failure') this.#open({ failures: 1, requests: 1 });
      else if (verdict === 'success') this.#transition('closed', { failures: 0, requests: 1 });
      return;
    }
    if (verdict === 'neutral') return;
    this.#counts.add(1, verdict === 'transient_failure' ? 1 : 0);
    if (this.#state !== 'closed') return;
    const { a: requests, b: failures } = this.#counts.totals();
    if (requests >= this.#o.minRequests && failures / requests >= this.#o.failureRatio)
      this.#open({ failures, requests });
  }

  #open(info: { failures: number; requests: number }): void {
    this.#openedAt = this.#o.now();
    this.#transition('open', info);
  }

  #transition(to: CircuitState, info: { failures: number; requests: number }): void {
    const from = this.#state;
    if (from === to) return;
    this.#state = to;
    // A fresh window after every change: old failures must not reopen a circuit that just closed.
    this.#counts.clear();
    this.#o.onTransition?.(from, to, info);
  }

  #maybeHalfOpen(): void {
    if (this.#state === 'open' && this.#o.now() - this.#openedAt >= this.#o.openMs) {
      this.#probeInFlight = false;
      this.#transition('half_open', { failures: 0, requests: 0 });
    }
  }

  #retryInS(): number {
    return Math.max(1, Math.ceil((this.#openedAt + this.#o.openMs - this.#o.now()) / 1000));
  }
}

/** Numeric value of `smtp_gateway_circuit_state`. */
export function circuitGaugeValue(s: CircuitState): number {
  return s === 'closed' ? 0 : s === 'half_open' ? 1 : 2;
}
