// The one configuration schema: every setting, its environment variable, its default and one
// line of documentation. README's configuration table is generated from this list
// (`smtp-gateway config --markdown`), so the docs cannot drift from the code.
import { z } from 'zod';
import { parseCidrList } from '../lib/cidr.ts';

const MiB = 1024 * 1024;

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const optionalString = z.string().min(1).optional();
const nonNegativeInt = z.coerce.number().int().min(0);
/** A comma-separated CIDR list (IPv4 and IPv6; a bare address is one host); unset = empty. */
const cidrList = z
  .string()
  .optional()
  .transform((text, ctx) => {
    const parsed = parseCidrList(text);
    if (parsed.ok) return parsed.cidrs;
    ctx.addIssue({ code: 'custom', message: `not a CIDR: ${parsed.invalid.join(', ')}` });
    return z.NEVER;
  });

/** A comma-separated list of host names; unset = empty. */
const nameList = z
  .string()
  .optional()
  .transform((text, ctx) => {
    const names = (text ?? '')
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean);
    const bad = names.filter((n) => !/^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(n));
    if (bad.length === 0) return names;
    ctx.addIssue({ code: 'custom', message: `not a host name: ${bad.join(', ')}` });
    return z.NEVER;
  });

interface Field<S extends z.ZodType> {
  env: string;
  schema: S;
  /** The default as the environment would spell it; undefined = unset. */
  default?: string;
  doc: string;
  /** Redacted in `smtp-gateway config` output and logs. */
  secret?: boolean;
}

function field<S extends z.ZodType>(f: Field<S>): Field<S> {
  return f;
}

export const fields = {
  // SMTP surface
  smtpHost: field({
    env: 'SMTP_HOST',
    schema: z.string().min(1),
    default: '127.0.0.1',
    doc: 'Address the SMTP listeners bind to (0.0.0.0 in a container).',
  }),
  submissionPort: field({
    env: 'SMTP_SUBMISSION_PORT',
    schema: port,
    default: '2525',
    doc: 'Port of the `submission` listener (STARTTLS; AUTH only after TLS).',
  }),
  smtpsPort: field({
    env: 'SMTP_SMTPS_PORT',
    schema: port,
    default: '2465',
    doc: 'Port of the `smtps` listener (implicit TLS).',
  }),
  altSubmissionPort: field({
    env: 'SMTP_ALT_SUBMISSION_PORT',
    schema: port,
    default: '2587',
    doc: 'Port of the `alt_submission` listener, which behaves exactly like `submission` (STARTTLS); 0 turns it off.',
  }),
  serverName: field({
    env: 'SMTP_SERVER_NAME',
    schema: z
      .string()
      .min(1)
      .regex(/^[A-Za-z0-9.-]+$/),
    default: 'localhost',
    doc: 'Host name in the SMTP banner and EHLO reply, and the right side of generated Message-IDs.',
  }),
  tlsCertFile: field({
    env: 'TLS_CERT_FILE',
    schema: optionalString,
    doc: 'PEM certificate chain file; reloaded when it changes. Unset: a self-signed certificate is generated at start.',
  }),
  tlsKeyFile: field({
    env: 'TLS_KEY_FILE',
    schema: optionalString,
    doc: 'PEM private key file; reloaded when it changes. Set together with TLS_CERT_FILE.',
  }),
  tlsReloadIntervalMs: field({
    env: 'TLS_RELOAD_INTERVAL_MS',
    schema: positiveInt,
    default: '10000',
    doc: 'How often the certificate files are checked for changes (ms).',
  }),
  maxMessageBytes: field({
    env: 'MAX_MESSAGE_BYTES',
    schema: positiveInt,
    default: String(10 * MiB),
    doc: 'Largest message accepted (SIZE in EHLO); larger gets 552 5.3.4 with no API call.',
  }),
  maxRecipients: field({
    env: 'MAX_RECIPIENTS',
    schema: positiveInt.max(1000),
    default: '100',
    doc: 'Envelope recipients per message; the next RCPT gets 452 4.5.3.',
  }),
  maxConnections: field({
    env: 'MAX_CONNECTIONS',
    schema: positiveInt,
    default: '1000',
    doc: 'Concurrent SMTP connections per process, both listeners together. At the cap a new connection takes the slot of an idle unauthenticated one (of the client holding the most, the one idle longest); if there is none it gets 421 4.3.2.',
  }),
  listenBacklog: field({
    env: 'LISTEN_BACKLOG',
    schema: positiveInt.max(65535),
    default: '4096',
    doc: 'Connections the kernel completes and holds per SMTP listener until the gateway accepts them (capped by net.core.somaxconn). Past it a burst of clients has its connections dropped and retried a second or more later.',
  }),
  idleTimeoutMs: field({
    env: 'SMTP_IDLE_TIMEOUT_MS',
    schema: positiveInt,
    default: '300000',
    doc: 'An SMTP session idle this long is closed with 421 4.4.2 (ms).',
  }),
  maxConnectionsPerIp: field({
    env: 'MAX_CONNECTIONS_PER_IP',
    schema: positiveInt,
    default: '20',
    doc: 'Concurrent connections per client address (IPv6: per /64) in one process; more get 421 4.7.0 at the greeting.',
  }),
  maxConnectionsPerPrefix: field({
    env: 'MAX_CONNECTIONS_PER_PREFIX',
    schema: nonNegativeInt,
    default: '100',
    doc: 'Concurrent connections per client network (CONNECTION_PREFIX_V4 / _V6) in one process; more get 421 4.7.0 at the greeting (0 = no cap).',
  }),
  connectionPrefixV4: field({
    env: 'CONNECTION_PREFIX_V4',
    schema: z.coerce.number().int().min(8).max(32),
    default: '24',
    doc: 'Prefix length of an IPv4 network for MAX_CONNECTIONS_PER_PREFIX.',
  }),
  connectionPrefixV6: field({
    env: 'CONNECTION_PREFIX_V6',
    schema: z.coerce.number().int().min(16).max(128),
    default: '48',
    doc: 'Prefix length of an IPv6 network for MAX_CONNECTIONS_PER_PREFIX.',
  }),
  stressThresholdPercent: field({
    env: 'STRESS_THRESHOLD_PERCENT',
    schema: z.coerce.number().int().min(1).max(100),
    default: '80',
    doc: 'From this share of MAX_CONNECTIONS open, the stress timeouts apply (STRESS_IDLE_TIMEOUT_MS, STRESS_AUTH_TIMEOUT_MS).',
  }),
  stressIdleTimeoutMs: field({
    env: 'STRESS_IDLE_TIMEOUT_MS',
    schema: positiveInt,
    default: '10000',
    doc: 'Under stress, a connection with no command for this long (not waiting on the gateway) is closed with 421 4.4.2 (ms).',
  }),
  stressAuthTimeoutMs: field({
    env: 'STRESS_AUTH_TIMEOUT_MS',
    schema: positiveInt,
    default: '30000',
    doc: 'Under stress, a connection not authenticated this long after connecting is closed with 421 4.7.0 (ms).',
  }),
  trustedCidrs: field({
    env: 'TRUSTED_CIDRS',
    schema: cidrList,
    doc: 'Comma-separated CIDRs (IPv4/IPv6) exempt from the per-IP and per-prefix connection caps and the rate limits (never from AUTH blocks).',
  }),
  proxyProtocolCidrs: field({
    env: 'PROXY_PROTOCOL_CIDRS',
    schema: cidrList,
    doc: 'Load balancers that must send a PROXY protocol v1/v2 header; its client address then counts. Any other peer sending one is refused.',
  }),
  tlsHandshakeTimeoutMs: field({
    env: 'TLS_HANDSHAKE_TIMEOUT_MS',
    schema: positiveInt,
    default: '10000',
    doc: 'Implicit TLS and STARTTLS handshakes (and a PROXY header) must complete within this; else the connection is closed (ms).',
  }),
  commandTimeoutMs: field({
    env: 'SMTP_COMMAND_TIMEOUT_MS',
    schema: positiveInt,
    default: '300000',
    doc: 'One command line, from its first byte to its CRLF, however slowly it trickles; then 421 4.4.2 (ms).',
  }),
  dataMinRate: field({
    env: 'DATA_MIN_RATE_BYTES_PER_S',
    schema: nonNegativeInt,
    default: '500',
    doc: 'After DATA_RATE_GRACE_MS, message data slower than this on average gets 421 4.4.2 (bytes/s; 0 = off).',
  }),
  dataRateGraceMs: field({
    env: 'DATA_RATE_GRACE_MS',
    schema: nonNegativeInt,
    default: '30000',
    doc: 'Time a DATA transfer gets before DATA_MIN_RATE_BYTES_PER_S applies (ms).',
  }),
  sessionMaxMs: field({
    env: 'SESSION_MAX_MS',
    schema: positiveInt,
    default: '1800000',
    doc: 'Longest SMTP session; then 421 4.4.2 once no message is being answered (ms).',
  }),

  // Cakemail API
  apiUrl: field({
    env: 'CAKEMAIL_API_URL',
    schema: z.url().optional(),
    doc: 'Cakemail API base URL (https://api.cakemail.dev). Unset: the embedded sandbox is started and used.',
  }),
  listId: field({
    env: 'CAKEMAIL_LIST_ID',
    schema: positiveInt,
    default: '1',
    doc: 'Contact list id sent as `list_id` with every email (the sandbox seeds list 1).',
  }),
  accountId: field({
    env: 'CAKEMAIL_ACCOUNT_ID',
    schema: positiveInt.optional(),
    doc: "Sub-account to act for (`account_id` on every call). Unset: the login's own account.",
  }),
  emailType: field({
    env: 'CAKEMAIL_EMAIL_TYPE',
    schema: z.enum(['transactional', 'marketing']),
    default: 'transactional',
    doc: '`content.type` when the message does not say (X-Email-Api-Type).',
  }),
  apiTimeoutMs: field({
    env: 'API_TIMEOUT_MS',
    schema: positiveInt,
    default: '10000',
    doc: 'Deadline of one API attempt (ms).',
  }),
  apiMaxConnections: field({
    env: 'API_MAX_CONNECTIONS',
    schema: positiveInt.max(1024),
    default: '64',
    doc: 'Most keep-alive connections to the Cakemail API at once; requests queue past it (each one spared a TLS handshake).',
  }),
  apiMaxAttempts: field({
    env: 'API_MAX_ATTEMPTS',
    schema: positiveInt.max(10),
    default: '3',
    doc: 'Attempts per API call for retryable failures (5xx, 429, connection refused).',
  }),
  retryBaseMs: field({
    env: 'API_RETRY_BASE_MS',
    schema: positiveInt,
    default: '250',
    doc: 'Base of the full-jitter exponential backoff (ms).',
  }),
  retryCapMs: field({
    env: 'API_RETRY_CAP_MS',
    schema: positiveInt,
    default: '8000',
    doc: 'Cap of one backoff sleep (ms).',
  }),
  messageDeadlineMs: field({
    env: 'MESSAGE_DEADLINE_MS',
    schema: positiveInt,
    default: '60000',
    doc: 'Whole-message budget from the final dot to the reply; past it the reply is 451 (ms).',
  }),
  sendConcurrency: field({
    env: 'SEND_CONCURRENCY',
    schema: positiveInt.max(100),
    default: '8',
    doc: 'API calls in flight at once for one message (one call per recipient).',
  }),
  senderCacheTtlMs: field({
    env: 'SENDER_CACHE_TTL_MS',
    schema: positiveInt,
    default: '300000',
    doc: "How long an account's confirmed-sender list is cached (ms).",
  }),
  tokenRefreshMarginMs: field({
    env: 'TOKEN_REFRESH_MARGIN_MS',
    schema: positiveInt,
    default: '300000',
    doc: 'Refresh an access token this long before it expires (ms).',
  }),

  // Message policy
  attachmentPolicy: field({
    env: 'ATTACHMENT_POLICY',
    schema: z.enum(['reject', 'drop']),
    default: 'reject',
    doc: 'What to do with an attachment the API cannot carry: `reject` (554 5.6.1) or `drop` (send without it, logged and counted).',
  }),
  maxAttachmentBytes: field({
    env: 'MAX_ATTACHMENT_BYTES',
    schema: positiveInt,
    default: String(10 * MiB),
    doc: 'Largest single attachment, decoded; larger gets 552 5.3.4 naming the part.',
  }),
  maxTotalAttachmentBytes: field({
    env: 'MAX_TOTAL_ATTACHMENT_BYTES',
    schema: positiveInt,
    default: String(25 * MiB),
    doc: 'Largest sum of attachments, decoded; larger gets 552 5.3.4.',
  }),
  mimeMaxDepth: field({
    env: 'MIME_MAX_DEPTH',
    schema: positiveInt,
    default: '10',
    doc: 'Deepest MIME nesting accepted; deeper gets 554 5.6.0.',
  }),
  mimeMaxParts: field({
    env: 'MIME_MAX_PARTS',
    schema: positiveInt,
    default: '1000',
    doc: 'Most MIME parts accepted; more gets 554 5.6.0.',
  }),
  mimeMaxHeaderBytes: field({
    env: 'MIME_MAX_HEADER_BYTES',
    schema: positiveInt,
    default: String(1 * MiB),
    doc: 'Largest header block accepted; larger gets 554 5.6.0.',
  }),
  parseTimeoutMs: field({
    env: 'PARSE_TIMEOUT_MS',
    schema: positiveInt,
    default: '5000',
    doc: 'Deadline of one MIME parse, queue wait included; the worker is killed and the reply is 451 4.3.0, or 554 5.6.0 when the same message overran before (ms).',
  }),
  // A parse worker needs about 5 MiB of heap just to load; below 32 it would fail to start (or
  // fail every real message) and every message would get 451: refused at start instead.
  parseHeapMb: field({
    env: 'PARSE_HEAP_MB',
    schema: positiveInt.min(32),
    default: '256',
    doc: 'Heap cap of a MIME parse worker (MiB); at least 32.',
  }),
  parseWorkers: field({
    env: 'PARSE_WORKERS',
    schema: z.coerce.number().int().min(0).max(64),
    default: '0',
    doc: 'MIME parse worker threads; 0 = one per core (os.availableParallelism()), at least 2 (one small-message lane, one large).',
  }),

  // Protection against abuse (docs/security.md)
  authMaxFailuresPerConnection: field({
    env: 'AUTH_MAX_FAILURES_PER_CONNECTION',
    schema: positiveInt,
    default: '3',
    doc: 'Failed AUTH attempts on one connection; the last one is answered 421 4.7.0 and the connection closed.',
  }),
  authMaxFailuresPerIp: field({
    env: 'AUTH_MAX_FAILURES_PER_IP',
    schema: positiveInt,
    default: '10',
    doc: 'Failed AUTH attempts from one client IP (IPv6: its /64) within AUTH_FAILURE_WINDOW_S that block it for AUTH_BLOCK_S.',
  }),
  authMaxFailuresPerUser: field({
    env: 'AUTH_MAX_FAILURES_PER_USER',
    schema: positiveInt,
    default: '20',
    doc: 'Failed AUTH attempts for one username within the window; then, for AUTH_BLOCK_S, only IPs that logged in as that user in the last 24 h may try it.',
  }),
  authRecheckS: field({
    env: 'AUTH_RECHECK_S',
    schema: positiveInt,
    default: '900',
    doc: "A cached login is confirmed with Cakemail's password grant at least this often (and at once after a 401 from the API), so a changed password stops working within it (s).",
  }),
  authNewAddressFailuresPerMin: field({
    env: 'AUTH_NEW_ADDRESS_FAILURES_PER_MIN',
    schema: nonNegativeInt,
    default: '60',
    doc: 'Failed AUTH attempts per minute, fleet-wide, from addresses that have not logged in successfully in 30 days; past it AUTH from such addresses gets 454 4.7.0 without a token call (0 = no budget).',
  }),
  authFailureWindowS: field({
    env: 'AUTH_FAILURE_WINDOW_S',
    schema: positiveInt,
    default: '600',
    doc: 'Window in which AUTH failures are counted, per IP and per username (s).',
  }),
  authBlockS: field({
    env: 'AUTH_BLOCK_S',
    schema: positiveInt,
    default: '900',
    doc: 'How long a blocked IP (421 4.7.0 at connect, 454 4.7.0 at AUTH, the right password included) or locked username stays so (s).',
  }),
  rateLimitIpPerMin: field({
    env: 'RATE_LIMIT_IP_PER_MIN',
    schema: z.coerce.number().int().min(0),
    default: '0',
    doc: 'Messages (MAIL commands) per minute per client IP, as a token bucket of that size; more get 451 4.7.1. 0: off.',
  }),
  rateLimitAccountPerMin: field({
    env: 'RATE_LIMIT_ACCOUNT_PER_MIN',
    schema: z.coerce.number().int().min(0),
    default: '0',
    doc: 'Messages (MAIL commands) per minute per Cakemail account, as a token bucket of that size; more get 451 4.7.1. 0: off.',
  }),

  // State
  redisUrl: field({
    env: 'REDIS_URL',
    schema: z.url().optional(),
    secret: true,
    doc: 'Redis for fleet-wide state (dedupe records). Unset: in-process memory.',
  }),
  dedupeTtlS: field({
    env: 'DEDUPE_TTL_S',
    schema: positiveInt,
    default: '86400',
    doc: "How long an accepted recipient is remembered so that a client's resend is not sent twice (s).",
  }),
  dedupePartialTtlS: field({
    env: 'DEDUPE_PARTIAL_TTL_S',
    schema: positiveInt,
    default: '3600',
    doc: 'A message without Message-ID that got 451 after some recipients were accepted: how long those are remembered so the retry skips them (s).',
  }),
  dedupeMaxEntries: field({
    env: 'DEDUPE_MAX_ENTRIES',
    schema: positiveInt,
    default: '1000000',
    doc: 'Entries the in-memory state store holds (without REDIS_URL); past it the oldest is evicted and counted.',
  }),
  traceTtlS: field({
    env: 'TRACE_TTL_S',
    schema: positiveInt,
    default: '604800',
    doc: "How long each message's trace (envelope, mapping decisions, API attempts, reply; never the body) is kept, in Redis with REDIS_URL (s).",
  }),
  traceMaxEntries: field({
    env: 'TRACE_MAX_ENTRIES',
    schema: positiveInt,
    default: '50000',
    doc: 'Without REDIS_URL: entries of the in-memory trace store (a message takes about 2 + 2 per recipient); past it the oldest go first.',
  }),
  redisKeyPrefix: field({
    env: 'REDIS_KEY_PREFIX',
    schema: z
      .string()
      .min(1)
      .max(100)
      .regex(/^[\x21-\x7e]+$/),
    default: 'smtpgw:',
    doc: 'Prefix of every Redis key, so several gateways or environments can share one Redis.',
  }),
  reconcile: field({
    env: 'RECONCILE',
    schema: z.enum(['on', 'off']),
    default: 'on',
    doc: '`on` (default): tag each send and, before resending a recipient whose earlier answer was lost, look it up in `GET /v2/logs/emails` (one call per unanswered send, none per message); `off`: resend without looking (a lost answer can then deliver twice; see docs/security.md).',
  }),
  reconcileWaitMs: field({
    env: 'RECONCILE_WAIT_MS',
    schema: positiveInt,
    default: '30000',
    doc: 'With RECONCILE=on, an unanswered send absent from the logs counts as not sent only once it is this old (a slow API may still commit it, and its logs may lag); before that the retry gets 451 (ms).',
  }),

  // Circuit breaker in front of POST /v2/emails (per process)
  circuitFailureRatio: field({
    env: 'CIRCUIT_FAILURE_RATIO',
    schema: z.coerce.number().gt(0).max(1),
    default: '0.5',
    doc: 'Share of transient API failures (5xx, 429, timeouts, resets) in the window that opens the circuit.',
  }),
  circuitMinRequests: field({
    env: 'CIRCUIT_MIN_REQUESTS',
    schema: positiveInt,
    default: '20',
    doc: 'Calls needed in the window before the circuit may open.',
  }),
  circuitWindowMs: field({
    env: 'CIRCUIT_WINDOW_MS',
    schema: positiveInt.min(10),
    default: '10000',
    doc: 'Sliding window over which failures are counted (ms).',
  }),
  circuitOpenMs: field({
    env: 'CIRCUIT_OPEN_MS',
    schema: positiveInt,
    default: '30000',
    doc: 'How long an open circuit answers RCPT with 451 4.4.1 before a probe is let through (ms).',
  }),

  // Spool mode (docs/architecture.md#spool-mode)
  deliveryMode: field({
    env: 'DELIVERY_MODE',
    schema: z.enum(['sync', 'spool']),
    default: 'sync',
    doc: '`sync`: 250 only once Cakemail queued every recipient. `spool`: 250 once the message is durably written to the spool (`Ok: spooled as <id>`); delivery follows with retries and dead letters.',
  }),
  spoolBackend: field({
    env: 'SPOOL_BACKEND',
    schema: z.enum(['dir', 'redis']),
    default: 'dir',
    doc: 'Where spool mode keeps messages: `dir` (SPOOL_DIR, one gateway process) or `redis` (Redis Streams at REDIS_URL, shared by a fleet; needs SPOOL_KEY).',
  }),
  spoolDir: field({
    env: 'SPOOL_DIR',
    schema: z.string().min(1),
    default: './spool',
    doc: 'Directory of the `dir` spool (relative to the working directory; /var/spool/cakemail-smtp-gateway in the container). Also where a generated SPOOL_KEY is kept.',
  }),
  spoolMaxBytes: field({
    env: 'SPOOL_MAX_BYTES',
    schema: positiveInt,
    default: String(1024 * MiB),
    doc: 'Spool budget (bytes of stored messages); past it new mail gets 452 4.3.1 and nothing is written.',
  }),
  spoolMaxAgeS: field({
    env: 'SPOOL_MAX_AGE_S',
    schema: positiveInt,
    default: '86400',
    doc: 'A spooled message not delivered within this long becomes a dead letter (`expired`) for the recipients still pending (s).',
  }),
  spoolDeadTtlS: field({
    env: 'SPOOL_DEAD_TTL_S',
    schema: positiveInt,
    default: String(7 * 24 * 3600),
    doc: 'A dead letter is removed from the spool this long after it died (s; default 7 days): until then it can be shown and retried, and it counts against SPOOL_MAX_BYTES.',
  }),
  spoolKey: field({
    env: 'SPOOL_KEY',
    schema: optionalString,
    secret: true,
    doc: 'AES-256-GCM key sealing the SMTP logins kept with spooled messages: 64 hex digits or base64 of 32 bytes. Unset with SPOOL_BACKEND=dir: generated into SPOOL_DIR/spool.key (0600). Required with `redis`.',
  }),
  spoolKeyPrevious: field({
    env: 'SPOOL_KEY_PREVIOUS',
    schema: optionalString,
    secret: true,
    doc: 'The former SPOOL_KEY during a key rotation: it still opens logins sealed before the change, while new messages are sealed with SPOOL_KEY. Remove it once no spooled message needs it (the start-up check says so).',
  }),
  spoolAllowKeyMismatch: field({
    env: 'SPOOL_ALLOW_KEY_MISMATCH',
    schema: bool,
    default: 'false',
    doc: 'Start even though the spool holds messages sealed with a key this gateway does not have (otherwise the start is refused, naming the key fingerprint needed). Those messages become dead letters naming that key.',
  }),
  spoolConcurrency: field({
    env: 'SPOOL_CONCURRENCY',
    schema: positiveInt.max(1000),
    default: '16',
    doc: 'Spooled messages delivered at once by this process (each sends up to SEND_CONCURRENCY recipients at once); a process delivers about this many messages per API round trip.',
  }),
  spoolRetryBaseMs: field({
    env: 'SPOOL_RETRY_BASE_MS',
    schema: positiveInt,
    default: '10000',
    doc: "Base of the spool's redelivery backoff: the n-th retry waits a random time up to base × 2^(n-1), capped (ms).",
  }),
  spoolRetryCapMs: field({
    env: 'SPOOL_RETRY_CAP_MS',
    schema: positiveInt,
    default: '600000',
    doc: 'Cap of one redelivery wait (ms).',
  }),
  spoolLeaseMs: field({
    env: 'SPOOL_LEASE_MS',
    schema: positiveInt,
    default: '300000',
    doc: 'How long a delivery worker holds a message; a holder that died loses it after this (ms). Must exceed MESSAGE_DEADLINE_MS.',
  }),
  spoolSenderCheckMs: field({
    env: 'SPOOL_SENDER_CHECK_MS',
    schema: positiveInt,
    default: '3000',
    doc: 'Spool mode: how long DATA waits for the confirmed-sender lookup; past it (or if the API fails) the message is spooled and the sender checked at delivery (ms).',
  }),
  spoolPollMs: field({
    env: 'SPOOL_POLL_MS',
    schema: positiveInt,
    default: '1000',
    doc: 'How often delivery workers look for messages due again (a new message wakes them at once) (ms).',
  }),

  // Sandbox
  sandboxHost: field({
    env: 'SANDBOX_HOST',
    schema: z.string().min(1),
    default: '127.0.0.1',
    doc: 'Address of the embedded Cakemail API sandbox and its web inbox.',
  }),
  sandboxPort: field({ env: 'SANDBOX_PORT', schema: port, default: '8025', doc: 'Port of the embedded sandbox.' }),
  sandboxMaxEmails: field({
    env: 'SANDBOX_MAX_EMAILS',
    schema: positiveInt,
    default: '1000',
    doc: 'Emails the sandbox keeps in memory (oldest dropped first).',
  }),

  // Operations
  adminHost: field({
    env: 'ADMIN_HOST',
    schema: z.string().min(1),
    default: '127.0.0.1',
    doc: 'Address of the admin HTTP server: health and metrics for anyone who reaches it, the spool only with ADMIN_TOKEN. Never expose publicly.',
  }),
  adminPort: field({ env: 'ADMIN_PORT', schema: port, default: '8080', doc: 'Port of the admin HTTP server.' }),
  adminToken: field({
    env: 'ADMIN_TOKEN',
    schema: z.string().min(16, 'at least 16 characters (e.g. `openssl rand -hex 32`)').optional(),
    doc: 'Bearer token for every admin endpoint but health and metrics (the spool, traces): `Authorization: Bearer <token>`. Unset: those endpoints answer 403 (docs/security.md#admin-port).',
    secret: true,
  }),
  adminAllowedHosts: field({
    env: 'ADMIN_ALLOWED_HOSTS',
    schema: nameList,
    doc: 'Comma-separated host names the admin port answers to in the Host header, besides IP addresses and `localhost` (`.example.com` allows every name under it); others get 403 (DNS rebinding).',
  }),
  logLevel: field({
    env: 'LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
    doc: 'Log level of the JSON logs on stdout.',
  }),
  workers: field({
    env: 'WORKERS',
    schema: positiveInt.max(64),
    default: '1',
    doc: 'Gateway processes sharing the SMTP ports (node:cluster), e.g. one per core. Above 1, dedupe records are shared only through REDIS_URL, and CAKEMAIL_API_URL is required.',
  }),
  shutdownTimeoutMs: field({
    env: 'SHUTDOWN_TIMEOUT_MS',
    schema: positiveInt,
    default: '30000',
    doc: 'On SIGTERM, how long sessions may finish before 421 4.3.2 closes them (ms); in-flight messages always settle.',
  }),
  startSandbox: field({
    env: 'SANDBOX_ENABLED',
    schema: bool.optional(),
    doc: 'Force the embedded sandbox on or off. Unset: on exactly when CAKEMAIL_API_URL is unset and SMTP_HOST is a loopback address (elsewhere the gateway refuses to start: the sandbox accepts a published demo login).',
  }),
} as const;

export type Fields = typeof fields;
export type Config = { readonly [K in keyof Fields]: z.output<Fields[K]['schema']> };
export type FieldName = keyof Fields;
