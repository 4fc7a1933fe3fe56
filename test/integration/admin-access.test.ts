// The admin port against the attacks it must refuse: anyone on the pod network (no token, a wrong
// token), a cross-site browser request (a text/plain form POST, which needs no CORS preflight), a
// web page reaching it through DNS rebinding (a foreign Host header), and the configurations that
// leave it without a token. Health and metrics stay open to probes and Prometheus.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Gateway } from '../../src/app.ts';
import { captureLogs, DEMO_PASSWORD, DEMO_USER, setFault, startTestGateway } from '../helpers/gateway.ts';
import { adminRequest, TEST_ADMIN_TOKEN } from '../helpers/admin.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { until } from '../helpers/until.ts';

interface Reply {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A raw request: node's http client lets a test set the Host header a browser would send. */
function raw(
  port: number,
  path: string,
  method: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const run = promisify(execFile);
const BIN = new URL('../../bin/smtp-gateway.js', import.meta.url).pathname;

/** `smtp-gateway spool …` with only the given environment: no SPOOL_DIR, so nothing local is read. */
async function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'spool', ...args], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function spoolGateway(
  env: Record<string, string> = {},
  logger?: ReturnType<typeof captureLogs>['logger'],
): Promise<Gateway> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-admin-'));
  dirs.push(dir);
  return startTestGateway(
    {
      DELIVERY_MODE: 'spool',
      SPOOL_DIR: dir,
      SPOOL_RETRY_BASE_MS: '100',
      SPOOL_RETRY_CAP_MS: '300',
      SPOOL_POLL_MS: '50',
      API_MAX_ATTEMPTS: '1',
      ...env,
    },
    logger,
  );
}

/** Spools one message the sandbox refuses for good (422), so there is a dead letter to attack. */
async function deadLetter(gw: Gateway): Promise<string> {
  const before = new Set(
    ((await adminRequest(gw.ports.admin, '/spool?dead=1')).body as { id: string }[]).map((e) => e.id),
  );
  await setFault(gw, { status: 422, count: 1 });
  const c = await RawSmtp.login(gw.ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    assert.match(await c.cmd(`MAIL FROM:<${DEMO_USER}>`), /^250/);
    assert.match(await c.cmd('RCPT TO:<target@example.org>'), /^250/);
    assert.match(await c.cmd('DATA'), /^354/);
    c.write(`From: ${DEMO_USER}\r\nTo: target@example.org\r\nSubject: target\r\n\r\nhello\r\n.\r\n`);
    assert.match(await c.reply(30_000), /^250/);
  } finally {
    c.close();
  }
  return until('a new dead letter', async () => {
    const list = (await adminRequest(gw.ports.admin, '/spool?dead=1')).body as { id: string }[];
    return list.find((e) => !before.has(e.id))?.id ?? false;
  });
}

describe('with ADMIN_TOKEN', () => {
  let gw: Gateway;
  before(async () => {
    gw = await spoolGateway({
      ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      ADMIN_ALLOWED_HOSTS: 'gw-admin.internal,.svc.cluster.local',
    });
  });
  after(() => gw.shutdown());

  test('without the token, or with a wrong one, nothing on /spool is shown or changed (401)', async () => {
    const id = await deadLetter(gw);
    const p = gw.ports.admin;
    const attempts: [string, string, Record<string, string>][] = [
      ['GET', '/spool', {}],
      ['GET', '/spool?dead=1', { authorization: 'Bearer wrong-token-wrong-token' }],
      ['GET', `/spool/${id}`, { authorization: `Bearer ${TEST_ADMIN_TOKEN}x` }],
      ['DELETE', `/spool/${id}`, {}],
      [
        'DELETE',
        `/spool/${id}`,
        { authorization: `Basic ${Buffer.from(`admin:${TEST_ADMIN_TOKEN}`).toString('base64')}` },
      ],
      ['POST', `/spool/${id}/retry`, { authorization: 'Bearer' }],
      ['POST', '/spool/retry-dead', { authorization: TEST_ADMIN_TOKEN }],
    ];
    for (const [method, path, headers] of attempts) {
      const r = await raw(p, path, method, headers);
      assert.equal(r.status, 401, `${method} ${path} ${JSON.stringify(headers)}: ${r.body}`);
      assert.match(r.body, /Authorization: Bearer <ADMIN_TOKEN>/);
      assert.doesNotMatch(r.body, /target@example/, 'no envelope address leaks');
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="smtp-gateway-admin"');
    }
    // The dead letter is still there, still dead: nothing was dropped or retried.
    const shown = await adminRequest(p, `/spool/${id}`);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.state, 'dead');
  });

  test('a cross-site form POST (text/plain, the browser adds Origin, cannot add Authorization) is refused', async () => {
    const id = await deadLetter(gw);
    const r = await raw(
      gw.ports.admin,
      '/spool/retry-dead',
      'POST',
      { 'content-type': 'text/plain', origin: 'https://evil.example', host: `127.0.0.1:${gw.ports.admin}` },
      'x=1',
    );
    assert.equal(r.status, 401);
    assert.equal((await adminRequest(gw.ports.admin, `/spool/${id}`)).body.state, 'dead');
    assert.equal((await adminRequest(gw.ports.admin, `/spool/${id}`, 'DELETE')).status, 200);
  });

  test('with the token the spool answers; health and metrics need none', async () => {
    const p = gw.ports.admin;
    assert.equal((await adminRequest(p, '/spool')).status, 200);
    assert.equal((await raw(p, '/spool', 'GET', { authorization: `bearer   ${TEST_ADMIN_TOKEN}` })).status, 200);
    assert.equal((await raw(p, '/health/live', 'GET')).status, 200);
    assert.equal((await raw(p, '/health/ready', 'GET')).status, 200);
    const metrics = await raw(p, '/metrics', 'GET');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /smtp_gateway_/);
  });

  test('the CLI goes through the admin port with --admin and sends ADMIN_TOKEN from its environment itself', async () => {
    const id = await deadLetter(gw);
    const url = `--admin=http://127.0.0.1:${gw.ports.admin}`;
    const listed = await cli(['list', '--dead', '--json', url], { ADMIN_TOKEN: TEST_ADMIN_TOKEN });
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok((JSON.parse(listed.stdout) as { id: string }[]).some((e) => e.id === id));
    const refused = await cli(['drop', id, url], {});
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /answered 401: this admin endpoint needs Authorization: Bearer <ADMIN_TOKEN>/);
    const wrong = await cli(['drop', id, url], { ADMIN_TOKEN: 'not-the-token-of-this-gateway' });
    assert.equal(wrong.code, 1);
    assert.equal((await adminRequest(gw.ports.admin, `/spool/${id}`)).body.state, 'dead', 'still there');
    const dropped = await cli(['drop', id, url], { ADMIN_TOKEN: TEST_ADMIN_TOKEN });
    assert.equal(dropped.code, 0, dropped.stderr);
    assert.equal(dropped.stdout, `dropped ${id}\n`);
    assert.equal((await adminRequest(gw.ports.admin, `/spool/${id}`)).status, 404);
  });

  test('DNS rebinding: a Host that is not an address, localhost or an allowed name gets 403, token or not', async () => {
    const p = gw.ports.admin;
    const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
    for (const host of [
      `rebind.evil.example:${p}`,
      'evil.example',
      `gw-admin.internal.evil.example:${p}`,
      `svc.cluster.local.evil:${p}`,
    ]) {
      for (const path of ['/spool', '/metrics', '/health/live']) {
        const r = await raw(p, path, 'GET', { ...auth, host });
        assert.equal(r.status, 403, `${host} ${path}`);
        assert.match(r.body, /ADMIN_ALLOWED_HOSTS/);
      }
    }
    for (const host of [
      `127.0.0.1:${p}`,
      `localhost:${p}`,
      `[::1]:${p}`,
      `10.1.2.3:${p}`,
      `gw-admin.internal:${p}`,
      'GW-ADMIN.internal',
      `x.ns.svc.cluster.local:${p}`,
    ]) {
      const r = await raw(p, '/spool', 'GET', { ...auth, host });
      assert.equal(r.status, 200, `${host}: ${r.body}`);
    }
  });
});

describe('without ADMIN_TOKEN', () => {
  test('the spool endpoints are off (403 naming ADMIN_TOKEN) on loopback too; health and metrics answer', async () => {
    const gw = await spoolGateway();
    try {
      const p = gw.ports.admin;
      for (const [method, path] of [
        ['GET', '/spool'],
        ['DELETE', '/spool/0123456789abcdef'],
        ['POST', '/spool/retry-dead'],
      ] as const) {
        const r = await raw(p, path, method, { authorization: 'Bearer anything-at-all-here' });
        assert.equal(r.status, 403, `${method} ${path}`);
        assert.match(r.body, /set ADMIN_TOKEN/);
      }
      assert.equal((await raw(p, '/metrics', 'GET')).status, 200);
      assert.equal((await raw(p, '/health/ready', 'GET')).status, 200);
    } finally {
      await gw.shutdown();
    }
  });

  test('an admin port bound beyond loopback says at start that the spool endpoints are off until ADMIN_TOKEN is set', async () => {
    const { logs, logger } = captureLogs();
    // 0.0.0.0 on an ephemeral port for the life of this test; only 127.0.0.1 is sent to.
    const gw = await spoolGateway({ ADMIN_HOST: '0.0.0.0' }, logger);
    try {
      const warning = logs.find((l) => typeof l.msg === 'string' && /ADMIN_TOKEN is unset/.test(l.msg));
      assert.ok(warning, 'a warning names ADMIN_TOKEN');
      assert.match(String(warning.msg), /ADMIN_HOST=0\.0\.0\.0/);
      assert.equal((await raw(gw.ports.admin, '/spool', 'GET')).status, 403);
    } finally {
      await gw.shutdown();
    }
  });
});

test('an ADMIN_TOKEN shorter than 16 characters is a configuration error, redacted', async () => {
  await assert.rejects(spoolGateway({ ADMIN_TOKEN: 'short' }), (err: Error) => {
    assert.match(err.message, /ADMIN_TOKEN=<redacted>: at least 16 characters/);
    assert.doesNotMatch(err.message, /short/);
    return true;
  });
});
