// The SMTP listeners (design.md §4): `submission` (STARTTLS, AUTH only after TLS) and `smtps`
// (implicit TLS). Both share one set of session hooks and one TLS policy.
import type { AddressInfo } from 'node:net';
import type { SMTPServerOptions } from 'smtp-server';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { GatewaySmtpServer } from './adapter.ts';
import type { SessionHandlers } from './handlers.ts';
import { tlsPolicy, type TlsMaterial } from './tls.ts';

export interface Listener {
  name: 'submission' | 'smtps';
  server: GatewaySmtpServer;
  port: number;
}

export function createListeners(config: Config, tls: TlsMaterial, handlers: SessionHandlers, logger: Logger, metrics: Metrics) {
  const base = (name: Listener['name']): SMTPServerOptions => ({
    name: config.serverName,
    banner: 'Cakemail SMTP Gateway',
    secure: name === 'smtps',
    ...tlsPolicy(tls),
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: false,
    allowInsecureAuth: false,
    // Reverse DNS on every connect is slow and attacker-controlled (threats.md §6).
    disableReverseLookup: true,
    size: config.maxMessageBytes,
    rejectOversized: true,
    maxRecipients: config.maxRecipients,
    maxClients: config.maxConnections,
    socketTimeout: config.idleTimeoutMs,
    closeTimeout: config.shutdownTimeoutMs,
    // The API cannot carry non-ASCII addresses end to end, so SMTPUTF8 is not offered and such
    // addresses get 553 5.6.7 (RFC 6531). DSN is not implemented, so it is not offered either.
    // smtp-server hides ENHANCEDSTATUSCODES unless asked; every reply of ours carries one.
    hideENHANCEDSTATUSCODES: false,
    hideSMTPUTF8: true,
    hideDSN: true,
    hideREQUIRETLS: true,
    // VRFY/EXPN reveal nothing useful here and are address-harvesting tools (threats.md T-21).
    disabledCommands: name === 'smtps' ? ['STARTTLS', 'VRFY', 'EXPN'] : ['VRFY', 'EXPN'],
    logger: false,
    onAuth: handlers.onAuth,
    onMailFrom: handlers.onMailFrom,
    onRcptTo: handlers.onRcptTo,
    onData: handlers.onData,
    onConnect: (session, callback) => {
      metrics.connectionsTotal.inc({ listener: name });
      metrics.connections.inc({ listener: name });
      logger.debug({ session: session.id, listener: name, remote: session.remoteAddress }, 'connection');
      handlers.onConnect(session, callback);
    },
    onClose: (session) => {
      metrics.connections.dec({ listener: name });
      logger.debug({ session: session.id, listener: name }, 'connection closed');
    },
  });

  const make = (name: Listener['name']): GatewaySmtpServer => {
    const server = new GatewaySmtpServer(base(name));
    server.on('error', (err: Error) => logger.warn({ listener: name, err: err.message }, 'SMTP connection error'));
    return server;
  };
  return { submission: make('submission'), smtps: make('smtps') };
}

export function listen(server: GatewaySmtpServer, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.server.once('error', onError);
    server.listen(port, host, () => {
      server.server.off('error', onError);
      resolve((server.server.address() as AddressInfo).port);
    });
  });
}

export function close(server: GatewaySmtpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
