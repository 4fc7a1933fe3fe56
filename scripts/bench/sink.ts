// The reference the gateway is measured against: a bare smtp-server that accepts any login and
// discards every message, behind the same listeners, TLS policy and AUTH rules as the gateway
// (STARTTLS on one port, implicit TLS on the other). Whatever it costs per message is what SMTP
// and TLS alone cost on this machine.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { loadTlsMaterial, tlsPolicy } from '../../src/smtp/tls.ts';

export interface Sink {
  ports: { submission: number; smtps: number };
  /** Messages accepted so far. */
  messages(): number;
  close(): Promise<void>;
}

export async function startSink(host = '127.0.0.1', ports = { submission: 0, smtps: 0 }): Promise<Sink> {
  const tls = await loadTlsMaterial(undefined, undefined, 'localhost');
  let messages = 0;
  const options = (secure: boolean): SMTPServerOptions => ({
    secure,
    ...tlsPolicy(tls),
    name: 'localhost',
    banner: 'bare sink',
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    disableReverseLookup: true,
    size: 10 * 1024 * 1024,
    maxClients: 5000,
    hideSTARTTLS: secure,
    logger: false,
    onAuth: (_auth, _session, cb) => cb(null, { user: 'sink' }),
    onData: (stream, _session, cb) => {
      stream.on('end', () => {
        messages++;
        cb(null, 'Ok: discarded');
      });
      stream.resume();
    },
  });
  const listen = (server: SMTPServer, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.server.once('error', reject);
      server.listen(port, host, () => resolve((server.server.address() as AddressInfo).port));
    });
  const submission = new SMTPServer(options(false));
  const smtps = new SMTPServer(options(true));
  for (const s of [submission, smtps]) s.on('error', () => undefined);
  const result = { submission: await listen(submission, ports.submission), smtps: await listen(smtps, ports.smtps) };
  return {
    ports: result,
    messages: () => messages,
    close: () =>
      Promise.all([submission, smtps].map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => undefined),
  };
}
