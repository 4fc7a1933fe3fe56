// The MIME stage's repairs (src/mime/repairs.ts) made visible: one debug line per message that
// needed any, naming the kinds, and smtp_gateway_mime_repairs_total{kind}. Every kind's series
// exists from start-up at 0, so a rate() over it is defined before the first repair.
import { REPAIR_KINDS, type Repairs } from '../mime/repairs.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';

export function initRepairCounter(metrics: Metrics): void {
  for (const kind of REPAIR_KINDS) metrics.mimeRepairs.inc({ kind }, 0);
}

export function countRepairs(repairs: Repairs | undefined, metrics: Metrics, log: Logger): void {
  if (!repairs) return;
  let any = false;
  for (const kind of REPAIR_KINDS) {
    const n = repairs[kind];
    if (!n) continue;
    metrics.mimeRepairs.inc({ kind }, n);
    any = true;
  }
  if (any) log.debug({ repairs }, 'message read with MIME repairs');
}
