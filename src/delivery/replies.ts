// The one reply table (docs/architecture.md#outcomes-and-replies). Every SMTP reply the gateway itself decides comes from
// here: code, enhanced status code (RFC 3463), text, and the metric label that counts it.
// Codes are fixed by the semantics (250 only when Cakemail queued it, 5xx only for the sender's
// own problems, 4xx for ours); texts say exactly what was wrong.
import type { MessageOutcome, Refusal, TempFailure } from './outcome.ts';

export interface Reply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
  /** Label of `smtp_messages_total{outcome=…}` and of the log line. */
  readonly label: string;
  /** What the reply means for the availability SLO (deploy/prometheus/rules.yaml follows it). */
  readonly slo: SloClass;
}

/**
 * The SLO class of a reply; the availability SLI is "ours" over everything.
 * - good: the message (or step) went through: 250 from Cakemail, or spooled (the gateway took it).
 * - sender: the client's own doing, named in the reply: a bad message, address, login, a slow or
 *   vanished client. Does not count against us.
 * - backpressure: a limit the senders' own volume ran into (rate limits, connection caps):
 *   alerted on by itself, left out of the SLI.
 * - ours: the gateway or Cakemail failed; a 4xx the client retries. Counts against us.
 */
export type SloClass = 'good' | 'sender' | 'backpressure' | 'ours';

/** Replies decided outside DATA: authentication and envelope. */
export const sessionReplies = {
  authInvalid: {
    code: 535,
    enhanced: '5.7.8',
    text: 'Authentication credentials invalid',
    label: 'auth_invalid',
    slo: 'sender',
  },
  authMfa: {
    code: 535,
    enhanced: '5.7.8',
    text: 'This Cakemail login has multi-factor authentication; MFA logins cannot be used over SMTP. Use a personal access token (ck_pat_...) as the password',
    label: 'auth_mfa',
    slo: 'sender',
  },
  authUnavailable: {
    code: 454,
    enhanced: '4.7.0',
    text: 'Temporary authentication failure: Cakemail token service unavailable, try again later',
    label: 'auth_unavailable',
    slo: 'ours',
  },
  authRequired: {
    code: 530,
    enhanced: '5.7.0',
    text: 'Authentication required',
    label: 'auth_required',
    slo: 'sender',
  },
  tlsRequired: {
    code: 538,
    enhanced: '5.7.11',
    text: 'Encryption required: issue STARTTLS first',
    label: 'tls_required',
    slo: 'sender',
  },
  shuttingDown: {
    code: 421,
    enhanced: '4.3.2',
    text: 'Service shutting down, try again later',
    label: 'shutting_down',
    slo: 'ours',
  },
  idleTimeout: {
    code: 421,
    enhanced: '4.4.2',
    text: 'Idle timeout, closing connection',
    label: 'idle_timeout',
    slo: 'sender',
  },
  earlyTalker: {
    code: 421,
    enhanced: '4.5.0',
    text: 'Protocol error: command sent before the greeting',
    label: 'early_talker',
    slo: 'sender',
  },
  senderOk: { code: 250, enhanced: '2.1.0', text: 'Sender ok', label: 'mail_ok', slo: 'good' },
  recipientOk: { code: 250, enhanced: '2.1.5', text: 'Recipient ok', label: 'rcpt_ok', slo: 'good' },
  messageTooLarge: {
    code: 552,
    enhanced: '5.3.4',
    text: 'Message size exceeds the fixed limit',
    label: 'too_large',
    slo: 'sender',
  },
} as const satisfies Record<string, Reply>;

/**
 * Brute-force limits (docs/security.md). Every text says how long, so a client or its operator
 * knows when to try again; none says whether the username exists.
 */
export function authIpBlocked(secondsLeft: number, atConnect: boolean): Reply {
  return {
    code: atConnect ? 421 : 454,
    enhanced: '4.7.0',
    text: `Too many failed logins from your IP address: blocked, try again in ${secondsLeft} s`,
    label: 'auth_blocked_ip',
    slo: 'sender',
  };
}

/**
 * The IP's or username's limit stayed taken by logins still in progress (none of them a known
 * failure yet) for as long as a login may wait: same code and label as a block, but the client
 * is told why, since its next try will likely go through.
 */
export function authLoginsInProgress(scope: 'ip' | 'user', secondsLeft: number): Reply {
  return {
    code: 454,
    enhanced: '4.7.0',
    text:
      scope === 'ip'
        ? `Too many failed logins from your IP address: logins still in progress, try again in ${secondsLeft} s`
        : `Too many failed logins for this username: logins still in progress, try again in ${secondsLeft} s`,
    label: scope === 'ip' ? 'auth_blocked_ip' : 'auth_blocked_user',
    slo: 'sender',
  };
}

export function authUserLocked(secondsLeft: number): Reply {
  return {
    code: 454,
    enhanced: '4.7.0',
    text: `Too many failed logins for this username: only addresses it recently logged in from may try it for the next ${secondsLeft} s`,
    label: 'auth_blocked_user',
    slo: 'sender',
  };
}

/** Password spraying: the fleet-wide budget of failed logins from new addresses is spent. */
export function authNewAddressBudget(secondsLeft: number): Reply {
  return {
    code: 454,
    enhanced: '4.7.0',
    text: `Too many failed logins from new addresses across the service (AUTH_NEW_ADDRESS_FAILURES_PER_MIN): logins from an address not seen logging in before are refused for up to ${secondsLeft} s`,
    label: 'auth_blocked_new_address',
    slo: 'sender',
  };
}

export function authConnectionLimit(max: number, lastReply: Reply): Reply {
  return {
    code: 421,
    enhanced: '4.7.0',
    text: `${lastReply.text}; too many failed AUTH attempts (${max}) on this connection, closing`,
    label: 'auth_blocked_connection',
    slo: 'sender',
  };
}

export function rateLimited(limit: 'ip' | 'account', perMinute: number, retryS: number): Reply {
  const who = limit === 'ip' ? 'your IP address' : 'this Cakemail account';
  return {
    code: 451,
    enhanced: '4.7.1',
    text: `Rate limit of ${perMinute} messages per minute reached for ${who}: try again in ${retryS} s`,
    label: `rate_limited_${limit}`,
    slo: 'backpressure',
  };
}

/**
 * Connection-level replies: admission refusals (labels of
 * `smtp_gateway_connections_refused_total{reason}`) and the session limits that close a
 * connection (labels of `smtp_gateway_deadlines_exceeded_total{limit}`). See docs/security.md.
 */
export const connectionReplies = {
  maxConnections: {
    code: 421,
    enhanced: '4.3.2',
    text: 'Too many connections to this server (MAX_CONNECTIONS), try again later',
    label: 'max_connections',
    slo: 'backpressure',
  },
  perIp: {
    code: 421,
    enhanced: '4.7.0',
    text: 'Too many connections from your address (MAX_CONNECTIONS_PER_IP), try again later',
    label: 'per_ip',
    slo: 'backpressure',
  },
  perPrefix: {
    code: 421,
    enhanced: '4.7.0',
    text: 'Too many connections from your network (MAX_CONNECTIONS_PER_PREFIX), try again later',
    label: 'per_prefix',
    slo: 'backpressure',
  },
  /** At MAX_CONNECTIONS, the slot of an idle unauthenticated connection goes to a new one. */
  evicted: {
    code: 421,
    enhanced: '4.3.2',
    text: 'Server full (MAX_CONNECTIONS): idle unauthenticated connection closed to make room, try again later',
    label: 'evicted_idle',
    slo: 'backpressure',
  },
  stressIdle: (ms: number): Reply => ({
    code: 421,
    enhanced: '4.4.2',
    text: `Server busy: no command within ${seconds(ms)} (STRESS_IDLE_TIMEOUT_MS), closing connection`,
    label: 'stress_idle',
    slo: 'backpressure',
  }),
  stressAuth: (ms: number): Reply => ({
    code: 421,
    enhanced: '4.7.0',
    text: `Server busy: not authenticated within ${seconds(ms)} of connecting (STRESS_AUTH_TIMEOUT_MS), closing connection`,
    label: 'stress_auth',
    slo: 'backpressure',
  }),
  draining: {
    code: 421,
    enhanced: '4.3.2',
    text: 'Service shutting down, try again later',
    label: 'draining',
    slo: 'ours',
  },
  proxyRequired: {
    code: 421,
    enhanced: '4.7.0',
    text: 'PROXY protocol header required from this address (PROXY_PROTOCOL_CIDRS)',
    label: 'proxy_required',
    slo: 'sender',
  },
  proxyInvalid: {
    code: 421,
    enhanced: '4.7.0',
    text: 'Invalid PROXY protocol header',
    label: 'proxy_invalid',
    slo: 'sender',
  },
  proxyForbidden: {
    code: 421,
    enhanced: '4.7.0',
    text: 'PROXY protocol header not accepted from this address (PROXY_PROTOCOL_CIDRS)',
    label: 'proxy_forbidden',
    slo: 'sender',
  },
  /** RFC 2920 §3.1: DATA ends a command group; the message may only follow the 354. */
  pipelinedData: {
    code: 554,
    enhanced: '5.5.0',
    text: 'Protocol synchronization error: message data sent before the 354 reply',
    label: 'pipelined_data',
    slo: 'sender',
  },
  /** Sent (in cleartext) only to an implicit-TLS client that sent nothing; a half-done handshake is just dropped. */
  tlsHandshake: (ms: number): Reply => ({
    code: 421,
    enhanced: '4.4.2',
    text: `TLS handshake not completed within ${seconds(ms)} (TLS_HANDSHAKE_TIMEOUT_MS), closing connection`,
    label: 'tls_handshake',
    slo: 'sender',
  }),
  commandTimeout: (ms: number): Reply => ({
    code: 421,
    enhanced: '4.4.2',
    text: `Command line not completed within ${seconds(ms)} (SMTP_COMMAND_TIMEOUT_MS), closing connection`,
    label: 'command',
    slo: 'sender',
  }),
  dataRate: (bytesPerS: number): Reply => ({
    code: 421,
    enhanced: '4.4.2',
    text: `Message data slower than ${bytesPerS} bytes/s (DATA_MIN_RATE_BYTES_PER_S), closing connection`,
    label: 'data_rate',
    slo: 'sender',
  }),
  sessionMax: (ms: number): Reply => ({
    code: 421,
    enhanced: '4.4.2',
    text: `Session longer than ${seconds(ms)} (SESSION_MAX_MS), closing connection`,
    label: 'session',
    slo: 'sender',
  }),
  /** Never sent: the connection is dropped (it is in the middle of a TLS handshake). */
  tlsRenegotiation: {
    code: 421,
    enhanced: '4.7.0',
    text: 'Client-initiated TLS renegotiation refused',
    label: 'tls_renegotiation',
    slo: 'sender',
  },
  /** No reply can reach a client that went away during DATA; the row gives the outcome label. */
  connectionClosed: {
    code: 421,
    enhanced: '4.4.2',
    text: 'Connection closed during DATA',
    label: 'connection_closed',
    slo: 'sender',
  },
} as const;

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(3).replace(/0+$/, '')} s`;
}

export function badAddressSyntax(address: string): Reply {
  return {
    code: 501,
    enhanced: '5.1.3',
    text: `Bad address syntax: <${clean(address)}>`,
    label: 'address_invalid',
    slo: 'sender',
  };
}

export function invalidUtf8Address(): Reply {
  return {
    code: 501,
    enhanced: '5.1.7',
    text: 'Address is not valid UTF-8',
    label: 'address_invalid_utf8',
    slo: 'sender',
  };
}

export function nonAsciiAddress(address: string): Reply {
  return {
    code: 553,
    enhanced: '5.6.7',
    text: `Non-ASCII address not supported: <${clean(address)}>; Cakemail needs an ASCII address`,
    label: 'address_non_ascii',
    slo: 'sender',
  };
}

/**
 * RFC 4865 FUTURERELEASE is not offered (not in EHLO), so its MAIL parameters are refused by name
 * rather than accepted and the hold silently ignored (the message would go out at once).
 */
export function futureReleaseNotOffered(param: string): Reply {
  return {
    code: 555,
    enhanced: '5.5.4',
    text: `MAIL parameter ${clean(param, 20)} not supported: FUTURERELEASE is not offered; schedule with X-Cakemail-Send-At (or X-Mailgun-Deliver-By, X-SMTPAPI send_at, X-MC-SendAt) in spool mode`,
    label: 'futurerelease_refused',
    slo: 'sender',
  };
}

export function smtputf8NotOffered(): Reply {
  return {
    code: 555,
    enhanced: '5.6.7',
    text: 'SMTPUTF8 is not supported: Cakemail needs ASCII addresses',
    label: 'smtputf8_refused',
    slo: 'sender',
  };
}

export function refusalReply(r: Refusal): Reply {
  switch (r.kind) {
    case 'content_invalid':
      return {
        code: 554,
        enhanced: '5.6.0',
        text: `Message refused: ${clean(r.reason)}`,
        label: 'content_invalid',
        slo: 'sender',
      };
    case 'attachment_refused':
      return {
        code: 554,
        enhanced: '5.6.1',
        text: `Attachment refused: ${clean(r.reason)}`,
        label: 'attachment_refused',
        slo: 'sender',
      };
    case 'too_large':
      return {
        code: 552,
        enhanced: '5.3.4',
        text: `Message refused: ${clean(r.reason)}`,
        label: 'too_large',
        slo: 'sender',
      };
    case 'sender_not_allowed':
      return {
        code: 550,
        enhanced: '5.7.1',
        text: `Sender <${clean(r.address)}> is not a confirmed sender of this Cakemail account${r.reason ? `: ${clean(r.reason)}` : ''}`,
        label: 'sender_not_allowed',
        slo: 'sender',
      };
    case 'recipient_invalid':
      return {
        code: 550,
        enhanced: '5.1.3',
        text: `Recipient <${clean(r.address)}> refused: ${clean(r.reason)}`,
        label: 'recipient_invalid',
        slo: 'sender',
      };
  }
}

/**
 * The circuit breaker in front of the API is open: answered at RCPT, before the client uploads
 * a body that could not be forwarded (and at DATA if it opened in between).
 */
export function circuitOpenReply(retryInS: number): Reply {
  return {
    code: 451,
    enhanced: '4.4.1',
    text: `Cakemail API unavailable (circuit open after repeated failures), next try in ${retryInS} s`,
    label: 'circuit_open',
    slo: 'ours',
  };
}

export function tempFailureReply(f: TempFailure): Reply {
  const reason = clean(f.reason);
  switch (f.kind) {
    case 'api_unavailable':
      return {
        code: 451,
        enhanced: '4.4.1',
        text: `Cakemail API unavailable (${reason}), try again later`,
        label: 'api_unavailable',
        slo: 'ours',
      };
    case 'api_timeout':
      return {
        code: 451,
        enhanced: '4.4.2',
        text: `Cakemail API did not answer in time (${reason}), try again later`,
        label: 'api_timeout',
        slo: 'ours',
      };
    case 'api_dns':
      return {
        code: 451,
        enhanced: '4.4.3',
        text: `Cakemail API host could not be resolved (${reason}), try again later`,
        label: 'api_dns',
        slo: 'ours',
      };
    case 'api_rate_limited':
      return {
        code: 451,
        enhanced: '4.4.5',
        text: `Cakemail API rate limit reached${f.retryAfterS !== undefined ? `, retry after ${f.retryAfterS} s` : ''}, try again later`,
        label: 'api_rate_limited',
        slo: 'backpressure',
      };
    case 'api_auth':
      return {
        code: 451,
        enhanced: '4.3.5',
        text: `Cakemail API refused the gateway's credentials (${reason}), try again later`,
        label: 'api_auth',
        slo: 'ours',
      };
    case 'circuit_open':
      return circuitOpenReply(f.retryInS);
    case 'in_progress':
      return {
        code: 451,
        enhanced: '4.3.0',
        text: 'This message is being delivered in another session, try again later',
        label: 'in_progress',
        slo: 'ours',
      };
    case 'parse_timeout':
      return {
        code: 451,
        enhanced: '4.3.0',
        text: `Message could not be processed in time (${reason}), try again later`,
        label: 'parse_timeout',
        slo: 'ours',
      };
    case 'local_error':
      return {
        code: 451,
        enhanced: '4.3.0',
        text: `Local error in processing (${reason}), try again later`,
        label: 'local_error',
        slo: 'ours',
      };
  }
}

export function outcomeReply(o: MessageOutcome): Reply {
  switch (o.kind) {
    case 'accepted':
      return {
        code: 250,
        enhanced: '2.0.0',
        text: `Ok: queued as ${o.id}${acceptedNote(o)}`,
        label: o.duplicate ? 'duplicate' : 'accepted',
        slo: 'good',
      };
    case 'accepted_partial':
      return {
        code: 250,
        enhanced: '2.0.0',
        text: `Ok: queued as ${o.id}; ${o.refused} of ${o.recipients} recipients refused by Cakemail`,
        label: 'accepted_partial',
        slo: 'good',
      };
    case 'refused':
      return refusalReply(o.refusal);
    case 'api_refused':
      return apiRefusedReply(o.apiKind, o.reason);
    case 'temp_failure':
      return tempFailureReply(o.failure);
    case 'spooled':
      return spooledReply(o.id, o.notBefore);
    case 'spool_full':
      return o.cause === 'budget' ? spoolFullReply : spoolStorageFullReply;
    case 'test_mode':
      return testModeReply(o.id, o.duplicate);
  }
}

/** Test mode's 250: the client must not take it for a sent message (docs/message-mapping.md §3). */
export function testModeReply(id: string, duplicate: boolean): Reply {
  return {
    code: 250,
    enhanced: '2.0.0',
    text: `Ok: not sent (test mode), id ${id}${duplicate ? ' (already accepted earlier)' : ''}`,
    label: 'test_mode',
    slo: 'good',
  };
}

/**
 * Spool mode's 250: the gateway took responsibility (written and fsynced), Cakemail not yet. A
 * scheduled message says when it will be sent.
 */
export function spooledReply(id: string, notBefore?: number): Reply {
  const held = notBefore !== undefined ? `, held until ${new Date(notBefore).toISOString()}` : '';
  return { code: 250, enhanced: '2.0.0', text: `Ok: spooled as ${id}${held}`, label: 'spooled', slo: 'good' };
}

/**
 * SPOOL_MAX_BYTES reached: RFC 5321 §4.2.2's 452 "insufficient system storage" (RFC 3463 X.3.1
 * "mail system full"); the client keeps the message and retries. At RCPT when the spool is
 * already full, else at the end of DATA.
 */
export const spoolFullReply: Reply = {
  code: 452,
  enhanced: '4.3.1',
  text: 'Insufficient system storage: the delivery spool is full (SPOOL_MAX_BYTES), try again later',
  label: 'spool_full',
  slo: 'ours',
};

/**
 * The spool's storage has no room for the message whole (a full disk or quota; Redis out of
 * memory), before or during the write: the same 452 4.3.1, nothing was kept.
 */
export const spoolStorageFullReply: Reply = {
  code: 452,
  enhanced: '4.3.1',
  text: 'Insufficient system storage: the spool storage has no room for this message, try again later',
  label: 'spool_storage_full',
  slo: 'ours',
};

function acceptedNote(o: Extract<MessageOutcome, { kind: 'accepted' }>): string {
  if (o.duplicate) return ' (already accepted earlier, not sent again)';
  if (o.skipped > 0) return `; ${o.skipped} of ${o.recipients} recipients already accepted earlier, not sent again`;
  return '';
}

function apiRefusedReply(kind: 'api_invalid' | 'api_rejected' | 'api_too_large', reason: string): Reply {
  switch (kind) {
    case 'api_invalid':
      return {
        code: 554,
        enhanced: '5.6.0',
        text: `Cakemail refused the message: ${clean(reason)}`,
        label: 'api_invalid',
        slo: 'sender',
      };
    case 'api_rejected':
      return {
        code: 550,
        enhanced: '5.7.1',
        text: `Cakemail rejected the message: ${clean(reason)}`,
        label: 'api_rejected',
        slo: 'sender',
      };
    case 'api_too_large':
      return {
        code: 552,
        enhanced: '5.3.4',
        text: `Cakemail refused the message as too large: ${clean(reason)}`,
        label: 'api_too_large',
        slo: 'sender',
      };
  }
}

/**
 * Text that goes into a reply line: control characters would split the reply (or smuggle a
 * second one), and an unbounded API message would make an unreadable bounce.
 */
export function clean(text: string, max = 300): string {
  const flat = text
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/**
 * Every final reply to DATA names its trace: a 250 already carries an id (the Cakemail id, the
 * gateway id or the spool id, each of which finds the trace); a 4xx or 5xx gets ` (trace <id>)`
 * at the end of its text. Clients and MTAs act on the code and the enhanced code only, and
 * bounce messages quote the text, so the id reaches whoever reads the bounce. Code, enhanced
 * code and label are unchanged.
 */
export function withTrace(r: Reply, traceId: string): Reply {
  if (r.code < 400) return r;
  return { ...r, text: `${r.text} (trace ${traceId})` };
}

/** The text smtp-server should send: our enhanced code first (smtp/adapter.ts sends such a text as it is). */
export function replyMessage(r: Reply): string {
  return `${r.enhanced} ${r.text}`;
}

/** An Error shaped the way smtp-server callbacks expect, carrying our reply. */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  readonly reply: Reply;
  constructor(reply: Reply) {
    super(replyMessage(reply));
    this.name = 'SmtpReplyError';
    this.responseCode = reply.code;
    this.reply = reply;
  }
}
