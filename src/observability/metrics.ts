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
    stateStoreUp: new Gauge({ name: 'smtp_gateway_state_store_up', help: 'State store reachable (1) or not (0); while 0, limits, blocks and dedupe fail open', registers: [registry] }),
    authBlocked: new Counter({ name: 'smtp_gateway_auth_blocked_total', help: 'AUTH attempts refused or connections closed by the brute-force limits, by scope (ip, user, connection)', labelNames: ['scope'], registers: [registry] }),
    rateLimited: new Counter({ name: 'smtp_gateway_rate_limited_total', help: 'MAIL commands refused by a rate limit (451 4.7.1), by limit (ip, account)', labelNames: ['limit'], registers: [registry] }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
