// The SMTP listeners (docs/architecture.md#smtp-surface): `submission` (STARTTLS, AUTH only
// after TLS), `smtps` (implicit TLS) and an optional `alt_submission` that behaves exactly like
// `submission` on a second port (a load balancer can map a third public port, e.g. 2525, to it).
// All share one set of session hooks, one TLS policy and one admission (the connection caps
// are per process, not per listener).
import type { AddressInfo } from 'node:net';
import type { SMTPServerOptions } from 'smtp-server';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { GatewaySmtpServer } from './adapter.ts';
import type { Admission } from './admission.ts';
import { cidrMatcher } from '../lib/cidr.ts';
import type { SessionHandlers } from './handlers.ts';
import { tlsPolicy, type TlsMaterial } from './tls.ts';

/** Socket errors that mean the client went away. */
const CLIENT_RESETS = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);

export interface Listener {
  name: 'submission' | 'smtps' | 'alt_submission';
  server: GatewaySmtpServer;
  port: number;
}

export function createListeners(
  config: Config,
  tls: TlsMaterial,
  handlers: SessionHandlers,
  admission: Admission,
  logger: Logger,
  metrics: Metrics,
) {
  const proxyFrom = cidrMatcher(config.proxyProtocolCidrs);
  const limits = {
    tlsHandshakeTimeoutMs: config.tlsHandshakeTimeoutMs,
    commandTimeoutMs: config.commandTimeoutMs,
    dataMinRate: config.dataMinRate,
    dataRateGraceMs: config.dataRateGraceMs,
    sessionMaxMs: config.sessionMaxMs,
  };
  const base = (name: Listener['name']): SMTPServerOptions => ({
    name: config.serverName,
    banner: 'Cakemail SMTP Gateway',
    secure: name === 'smtps',
    ...tlsPolicy(tls),
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    allowInsecureAuth: false,
    // Reverse DNS on every connect is slow and attacker-controlled (docs/threat-model.md).
    disableReverseLookup: true,
    size: config.maxMessageBytes,
    // The DATA handler refuses an oversized message itself (data.ts counts the bytes and reads
    // sizeExceeded), so its 552 5.3.4 comes from the reply table and names the trace;
    // smtp-server's own rejectOversized would replace that reply with one that carries no id.
    rejectOversized: false,
    maxRecipients: config.maxRecipients,
    // Connection caps are enforced per process by admission.ts, not per listener here.
    socketTimeout: config.idleTimeoutMs,
    closeTimeout: config.shutdownTimeoutMs,
    // The API cannot carry non-ASCII addresses end to end, so SMTPUTF8 is not offered and such
    // addresses get 553 5.6.7 (RFC 6531). DSN is not implemented, so it is not offered either.
    // smtp-server hides ENHANCEDSTATUSCODES unless asked; every reply of ours carries one.
    hideENHANCEDSTATUSCODES: false,
    hideSMTPUTF8: true,
    hideDSN: true,
    hideREQUIRETLS: true,
    // VRFY/EXPN reveal nothing useful here and are address-harvesting tools (docs/threat-model.md T-21).
    disabledCommands: name === 'smtps' ? ['STARTTLS', 'VRFY', 'EXPN'] : ['VRFY', 'EXPN'],
    logger: false,
    // An IP blocked for failed logins is refused before the greeting (421 4.7.0).
    onConnect: handlers.onConnect,
    onAuth: handlers.onAuth,
    onMailFrom: handlers.onMailFrom,
    onRcptTo: handlers.onRcptTo,
    onData: handlers.onData,
    onClose: (session) => {
      logger.debug({ session: session.id, listener: name, client: session.remoteAddress }, 'connection closed');
    },
  });

  const make = (name: Listener['name']): GatewaySmtpServer => {
    const server = new GatewaySmtpServer(base(name), { listener: name, admission, proxyFrom, limits, logger, metrics });
    server.on('error', (err: Error & { code?: string; remoteAddress?: string; syscall?: string }) => {
      // A failed bind is the caller's start-up error (listen() rejects with it), not a client's.
      if (err.syscall === 'listen') return;
      // A client that resets its connection (in the middle of a transaction, say) is the
      // client's business, not a fault of ours: info, so a reset flood does not look like one.
      const reset = err.code !== undefined && CLIENT_RESETS.has(err.code);
      logger[reset ? 'info' : 'warn'](
        { listener: name, client: err.remoteAddress, code: err.code, err: err.message },
        reset ? 'SMTP connection reset by the client' : 'SMTP connection error',
      );
    });
    return server;
  };
  return {
    submission: make('submission'),
    smtps: make('smtps'),
    // Port 0 means "off" for this listener only: it is an optional extra, not a required one.
    altSubmission: config.altSubmissionPort === 0 ? undefined : make('alt_submission'),
  };
}

/**
 * Binds a listener. `backlog`: Node's default of 511 overflowed when 1,000 clients connected at
 * once (602 of their SYNs dropped, each client retrying 1 s, 3 s, 7 s… later); the kernel
 * caps whatever is asked at net.core.somaxconn.
 */
export function listen(server: GatewaySmtpServer, host: string, port: number, backlog: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.server.once('error', onError);
    server.listen({ port, host, backlog }, () => {
      server.server.off('error', onError);
      resolve((server.server.address() as AddressInfo).port);
    });
  });
}

export function close(server: GatewaySmtpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
