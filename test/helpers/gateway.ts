// Start a whole gateway (with its embedded sandbox) on free ports for a test.
import { after, before, beforeEach } from 'node:test';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { startGateway, type Gateway } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';

export const DEMO_USER = 'demo@example.com';
export const DEMO_PASSWORD = 'demo-password';

export async function startTestGateway(env: Record<string, string> = {}, logger?: Logger): Promise<Gateway> {
  const loaded = loadConfig({
    SMTP_SUBMISSION_PORT: '0',
    SMTP_SMTPS_PORT: '0',
    // 0 is "off" for this listener (not "any free port"); a test that needs it passes a port.
    SMTP_ALT_SUBMISSION_PORT: '0',
    ADMIN_PORT: '0',
    SANDBOX_PORT: '0',
    LOG_LEVEL: 'silent',
    API_RETRY_BASE_MS: '20',
    API_RETRY_CAP_MS: '100',
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...env,
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return startGateway(loaded.config, logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
}

/** An info-level logger whose JSON lines are collected in `logs`, for tests that assert on log lines. */
export function captureLogs(): { logs: Record<string, unknown>[]; logger: Logger } {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        logs.push(JSON.parse(line) as Record<string, unknown>);
      cb();
    },
  });
  return { logs, logger: pino({ level: 'info' }, sink) };
}

/**
 * One gateway for a test file: started before its tests, shut down after them, its sandbox
 * cleared (emails, faults, counters) before each test. Call the returned function to get it.
 */
export function useTestGateway(env: Record<string, string> = {}): () => Gateway {
  let gw: Gateway | undefined;
  const current = (): Gateway => {
    if (!gw) throw new Error('the test gateway is not started yet');
    return gw;
  };
  before(async () => {
    gw = await startTestGateway(env);
  });
  after(() => gw?.shutdown());
  beforeEach(() => clearSandbox(current()));
  return current;
}

/** The sandbox admin endpoints, typed for tests. */
export async function sandboxEmails(gw: Gateway): Promise<{ id: string; payload: Record<string, any> }[]> {
  const res = await fetch(`${gw.apiUrl}/_sandbox/emails`);
  return (await res.json()) as { id: string; payload: Record<string, any> }[];
}

export async function sandboxRequests(gw: Gateway): Promise<Record<string, number>> {
  const res = await fetch(`${gw.apiUrl}/_sandbox/requests`);
  return (await res.json()) as Record<string, number>;
}

export async function setFault(gw: Gateway, fault: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${gw.apiUrl}/_sandbox/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(fault),
  });
  if (!res.ok) throw new Error(`fault not set: ${res.status} ${await res.text()}`);
}

export async function clearSandbox(gw: Gateway): Promise<void> {
  await fetch(`${gw.apiUrl}/_sandbox/emails`, { method: 'DELETE' });
  await fetch(`${gw.apiUrl}/_sandbox/faults`, { method: 'DELETE' });
  await fetch(`${gw.apiUrl}/_sandbox/requests`, { method: 'DELETE' });
  await fetch(`${gw.apiUrl}/_sandbox/users`, { method: 'DELETE' });
}

/** Changes a seed user's password at the sandbox (null: revokes it); tokens issued stay valid unless `revokeTokens`. */
export async function setSandboxPassword(
  gw: Gateway,
  username: string,
  password: string | null,
  revokeTokens = false,
): Promise<void> {
  const res = await fetch(`${gw.apiUrl}/_sandbox/users/${encodeURIComponent(username)}/password`, {
    method: password === null ? 'DELETE' : 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(password === null ? { revokeTokens } : { password, revokeTokens }),
  });
  if (res.status !== 204) throw new Error(`password not changed: ${res.status} ${await res.text()}`);
}
