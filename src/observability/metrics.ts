// Every metric the gateway exposes, defined in one place. A registry per app instance (no
// global default registry), so tests can run several gateways in one process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'smtp_gateway_' });
  const m = {
    registry,
    connections: new Gauge({
      name: 'smtp_gateway_connections',
      help: 'Open SMTP connections, including those still in their PROXY header or TLS handshake',
      labelNames: ['listener'],
      registers: [registry],
    }),
    connectionsTotal: new Counter({
      name: 'smtp_gateway_connections_total',
      help: 'SMTP connections admitted (within MAX_CONNECTIONS and the per-IP cap)',
      labelNames: ['listener'],
      registers: [registry],
    }),
    messages: new Counter({
      name: 'smtp_gateway_messages_total',
      help: 'DATA transactions by outcome (reply table label)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    recipients: new Counter({
      name: 'smtp_gateway_recipients_total',
      help: 'Envelope recipients by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    auth: new Counter({
      name: 'smtp_gateway_auth_total',
      help: 'AUTH attempts by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    apiRequests: new Counter({
      name: 'smtp_gateway_api_requests_total',
      help: 'Cakemail API attempts by endpoint and result',
      labelNames: ['endpoint', 'result'],
      registers: [registry],
    }),
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
    attachmentsDropped: new Counter({
      name: 'smtp_gateway_attachments_dropped_total',
      help: 'Parts left out of a message: by ATTACHMENT_POLICY=drop (policy), alternative body formats (alternative), detached signatures (signature)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    parseFailures: new Counter({
      name: 'smtp_gateway_parse_failures_total',
      help: 'MIME parses that failed',
      labelNames: ['kind'],
      registers: [registry],
    }),
    mimeRepairs: new Counter({
      name: 'smtp_gateway_mime_repairs_total',
      help: 'Repairs the MIME stage made to read broken mail that mail programs read (docs/message-mapping.md §8), by kind',
      labelNames: ['kind'],
      registers: [registry],
    }),
    // A gauge of the date, not of "days left": alert rules subtract time(), and a stalled
    // reload (cert-manager renewed, the file never re-read) shows as the old date staying put.
    tlsCertificateExpiry: new Gauge({
      name: 'smtp_gateway_tls_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the TLS certificate being served (Unix time, s)',
      registers: [registry],
    }),
    connectionsRefused: new Counter({
      name: 'smtp_gateway_connections_refused_total',
      help: 'Connections refused before or at the greeting, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    connectionDuration: new Histogram({
      name: 'smtp_gateway_connection_duration_seconds',
      help: 'Accept to close of admitted connections',
      labelNames: ['listener'],
      buckets: [0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800],
      registers: [registry],
    }),
    deadlinesExceeded: new Counter({
      name: 'smtp_gateway_deadlines_exceeded_total',
      help: 'Connections closed by a session limit (TLS handshake, command line, DATA rate, session length, stress timeouts, eviction at MAX_CONNECTIONS)',
      labelNames: ['limit'],
      registers: [registry],
    }),
    protocolViolations: new Counter({
      name: 'smtp_gateway_protocol_violations_total',
      help: 'Sessions closed for a protocol violation (message data before 354, TLS renegotiation)',
      labelNames: ['kind'],
      registers: [registry],
    }),
    stateStoreErrors: new Counter({
      name: 'smtp_gateway_state_store_errors_total',
      help: 'State store operations that failed (fail-open)',
      labelNames: ['op'],
      registers: [registry],
    }),
    // Labels stay bounded: listener names, reply-table labels, limit names. Never an address,
    // a login or a message id (one series each would grow without end).
    messageSize: new Histogram({
      name: 'smtp_gateway_message_size_bytes',
      help: 'Size of each message received in full (DATA bytes)',
      buckets: [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 10485760, 26214400],
      registers: [registry],
    }),
    messageRecipients: new Histogram({
      name: 'smtp_gateway_message_recipients',
      help: 'Envelope recipients per message received in full',
      buckets: [1, 2, 5, 10, 20, 50, 100],
      registers: [registry],
    }),
    tokenCacheEntries: new Gauge({
      name: 'smtp_gateway_token_cache_entries',
      help: 'Logins with a cached Cakemail token in this process',
      registers: [registry],
    }),
    testModeMessages: new Counter({
      name: 'smtp_gateway_test_mode_messages_total',
      help: 'Messages answered 250 in test mode (not sent), by the header that asked for it',
      labelNames: ['header'],
      registers: [registry],
    }),
    dedupeHits: new Counter({
      name: 'smtp_gateway_dedupe_hits_total',
      help: 'Recipients skipped because Cakemail already queued this message for them (a resend)',
      registers: [registry],
    }),
    rateLimited: new Counter({
      name: 'smtp_gateway_rate_limited_total',
      help: 'Commands answered 451 4.7.1 by a local rate limit',
      labelNames: ['limit'],
      registers: [registry],
    }),
    circuitState: new Gauge({
      name: 'smtp_gateway_circuit_state',
      help: 'Cakemail API circuit breaker: 0 closed, 1 half-open, 2 open',
      registers: [registry],
    }),
    apiAmbiguous: new Counter({
      name: 'smtp_gateway_api_ambiguous_total',
      help: 'API sends whose outcome is unknown (the request went out, no answer came back)',
      registers: [registry],
    }),
    retriesDenied: new Counter({
      name: 'smtp_gateway_retries_denied_total',
      help: 'API retries not made because the process retry budget was spent or the circuit opened',
      registers: [registry],
    }),
    reconciled: new Counter({
      name: 'smtp_gateway_reconcile_total',
      help: 'Ambiguous sends looked up in GET /v2/logs/emails (RECONCILE=on), by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    dedupeEvictions: new Counter({
      name: 'smtp_gateway_dedupe_evictions_total',
      help: 'Entries evicted from the bounded in-memory state store (DEDUPE_MAX_ENTRIES)',
      registers: [registry],
    }),
    stateStoreUp: new Gauge({
      name: 'smtp_gateway_state_store_up',
      help: 'State store reachable (1) or not (0); while 0, limits, blocks and dedupe fail open',
      registers: [registry],
    }),
    authBlocked: new Counter({
      name: 'smtp_gateway_auth_blocked_total',
      help: 'AUTH attempts refused or connections closed by the brute-force limits, by scope (ip, user, spray, connection)',
      labelNames: ['scope'],
      registers: [registry],
    }),
    // Spool mode (docs/architecture.md#spool-mode). Gauges come from the backend's usage(),
    // refreshed after each put and settle (debounced) and periodically.
    spoolMessages: new Gauge({
      name: 'smtp_gateway_spool_messages',
      help: 'Messages in the spool by state (queued: never attempted, retrying, dead: dead letters)',
      labelNames: ['state'],
      registers: [registry],
    }),
    spoolBytes: new Gauge({
      name: 'smtp_gateway_spool_bytes',
      help: 'Bytes of messages in the spool',
      registers: [registry],
    }),
    spoolMaxBytes: new Gauge({
      name: 'smtp_gateway_spool_max_bytes',
      help: 'The spool budget (SPOOL_MAX_BYTES); past it new mail gets 452 4.3.1',
      registers: [registry],
    }),
    spoolQuarantinedMessages: new Gauge({
      name: 'smtp_gateway_spool_quarantined_messages',
      help: 'Spooled messages in quarantine (damaged: truncated, altered or unreadable), waiting for an operator',
      registers: [registry],
    }),
    spoolQuarantined: new Counter({
      name: 'smtp_gateway_spool_quarantined_total',
      help: 'Spooled messages moved to quarantine because they could not be read or verified',
      registers: [registry],
    }),
    spoolOldestAge: new Gauge({
      name: 'smtp_gateway_spool_oldest_age_seconds',
      help: 'Age of the oldest spooled message still to deliver (dead letters excluded); 0 when none',
      registers: [registry],
    }),
    spoolAttempts: new Counter({
      name: 'smtp_gateway_spool_attempts_total',
      help: 'Spool delivery attempts per recipient by result (queued, refused, failed, reconciled)',
      labelNames: ['result'],
      registers: [registry],
    }),
    spoolDeadLetters: new Counter({
      name: 'smtp_gateway_spool_dead_letters_total',
      help: 'Spooled recipients given up, by reason (refused: a permanent refusal; expired: SPOOL_MAX_AGE_S)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    spoolDeadExpired: new Counter({
      name: 'smtp_gateway_spool_dead_expired_total',
      help: 'Dead letters removed from the spool after SPOOL_DEAD_TTL_S',
      registers: [registry],
    }),
    spoolDelivered: new Counter({
      name: 'smtp_gateway_spool_delivered_total',
      help: 'Spooled messages delivered to every recipient and removed from the spool',
      registers: [registry],
    }),
    spoolFull: new Counter({
      name: 'smtp_gateway_spool_full_total',
      help: 'Messages or recipients answered 452 4.3.1 because the spool was full',
      registers: [registry],
    }),
    spoolWriteSeconds: new Histogram({
      name: 'smtp_gateway_spool_write_seconds',
      help: 'Durable spool write latency (write, fsync, rename, directory fsync) before the 250',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;
