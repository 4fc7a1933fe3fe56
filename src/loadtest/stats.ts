// What a load test counts: every message attempt ends accepted or failed at one stage with one
// code; latencies are kept whole (a run is bounded, a few MB of doubles at most) so the
// percentiles are exact.
import type { FailureCode, Stage } from './smtp-client.ts';

export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export class LoadStats {
  accepted = 0;
  failed = 0;
  /** Accepted after the warm-up: the msg/s figure. */
  acceptedMeasured = 0;
  /** `stage code` → count, e.g. `dot 451`, `connect error`. */
  readonly failures = new Map<string, number>();
  readonly dotMs: number[] = [];
  readonly transactionMs: number[] = [];
  readonly sessionMs: number[] = [];
  readonly firstFailureText = new Map<string, string>();

  /** `measured`: begun after the warm-up, so its latencies count. */
  accept(dotMs: number, transactionMs: number, measured = true): void {
    this.accepted++;
    if (!measured) return;
    this.acceptedMeasured++;
    this.dotMs.push(dotMs);
    this.transactionMs.push(transactionMs);
  }

  fail(stage: Stage, code: FailureCode, text: string): void {
    this.failed++;
    const key = `${stage} ${code}`;
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
    if (!this.firstFailureText.has(key)) this.firstFailureText.set(key, text.slice(0, 200));
  }

  session(ms: number, measured = true): void {
    if (measured) this.sessionMs.push(ms);
  }

  get attempted(): number {
    return this.accepted + this.failed;
  }
}

export function summarize(values: number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: 0, p95: 0, p99: 0, max: 0, mean: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
  let sum = 0;
  for (const v of sorted) sum += v;
  const r = (v: number) => Math.round(v * 100) / 100;
  return {
    count: sorted.length,
    p50: r(at(50)),
    p95: r(at(95)),
    p99: r(at(99)),
    max: r(sorted[sorted.length - 1] as number),
    mean: r(sum / sorted.length),
  };
}
