// Every metric the gateway exposes, defined in one place. A registry per app instance (no
// global default registry), so tests can run several gateways in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'smtp_gateway_' });
  const m = {
    registry,
    connections: new Gauge({ name: 'smtp_gateway_connections', help: 'Open SMTP connections', labelNames: ['listener'], registers: [registry] }),
    connectionsTotal: new Counter({ name: 'smtp_gateway_connections_total', help: 'SMTP connections accepted', labelNames: ['listener'], registers: [registry] }),
    messages: new Counter({ name: 'smtp_gateway_messages_total', help: 'DATA transactions by outcome (reply table label)', labelNames: ['outcome'], registers: [registry] }),
    recipients: new Counter({ name: 'smtp_gateway_recipients_total', help: 'Envelope recipients by result', labelNames: ['result'], registers: [registry] }),
    auth: new Counter({ name: 'smtp_gateway_auth_total', help: 'AUTH attempts by result', labelNames: ['result'], registers: [registry] }),
    apiRequests: new Counter({ name: 'smtp_gateway_api_requests_total', help: 'Cakemail API attempts by endpoint and result', labelNames: ['endpoint', 'result'], registers: [registry] }),
    apiLatency: new Histogram({
      name: 'smtp_gateway_api_request_duration_seconds',
      help: 'Cakemail API attempt latency',
      labelNames: ['endpoint'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    messageDuration: new Histogram({
      name: 'smtp_gateway_message_duration_seconds',
      help: 'Final dot to reply',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 15, 30, 60],
      registers: [registry],
    }),
    attachmentsDropped: new Counter({ name: 'smtp_gateway_attachments_dropped_total', help: 'Attachments dropped by ATTACHMENT_POLICY=drop', labelNames: ['reason'], registers: [registry] }),
    parseFailures: new Counter({ name: 'smtp_gateway_parse_failures_total', help: 'MIME parses that failed', labelNames: ['kind'], registers: [registry] }),
    stateStoreErrors: new Counter({ name: 'smtp_gateway_state_store_errors_total', help: 'State store operations that failed (fail-open)', labelNames: ['op'], registers: [registry] }),
    circuitState: new Gauge({ name: 'smtp_gateway_circuit_state', help: 'Circuit breaker in front of POST /v2/emails: 0 closed, 1 half-open, 2 open', registers: [registry] }),
    retriesDenied: new Counter({ name: 'smtp_gateway_retries_denied_total', help: 'API retries not made because the process retry budget was spent or the circuit opened', registers: [registry] }),
    apiAmbiguous: new Counter({ name: 'smtp_gateway_api_ambiguous_total', help: 'Sends whose answer was lost after the request was written (timeout, reset): Cakemail may or may not have queued them', registers: [registry] }),
    reconciled: new Counter({ name: 'smtp_gateway_reconcile_total', help: 'Ambiguous sends looked up in GET /v2/logs/emails (RECONCILE=on), by result', labelNames: ['result'], registers: [registry] }),
    dedupeHits: new Counter({ name: 'smtp_gateway_dedupe_hits_total', help: 'Recipients not sent again because Cakemail already accepted them for the same message', registers: [registry] }),
    dedupeEvictions: new Counter({ name: 'smtp_gateway_dedupe_evictions_total', help: 'Entries evicted from the bounded in-memory state store (DEDUPE_MAX_ENTRIES)', registers: [registry] }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
