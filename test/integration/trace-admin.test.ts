// Reading traces: GET /messages/<id> and the search on the admin port behind ADMIN_TOKEN, and
// `smtp-gateway trace` printing them (human-readable, --json, --live with Cakemail's status).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { DEMO_PASSWORD, DEMO_USER, useTestGateway } from '../helpers/gateway.ts';
import { TEST_ADMIN_TOKEN, adminRequest } from '../helpers/admin.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

const gw = useTestGateway({ ADMIN_TOKEN: TEST_ADMIN_TOKEN });
const run = promisify(execFile);
const BIN = new URL('../../bin/smtp-gateway.js', import.meta.url).pathname;

async function send(rcpts: string[], subject: string, from = DEMO_USER): Promise<string> {
  const c = await RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD);
  try {
    const id = `${subject.replace(/\W/g, '')}@client.example`;
    return await c.transaction(
      DEMO_USER,
      rcpts,
      `From: ${from}\r\nTo: ${rcpts.join(', ')}\r\nSubject: ${subject}\r\nMessage-ID: <${id}>\r\n\r\nbody\r\n`,
    );
  } finally {
    c.close();
  }
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, 'trace', ...args], {
      env: { ...process.env, ADMIN_TOKEN: TEST_ADMIN_TOKEN, ADMIN_PORT: String(gw().ports.admin), LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('GET /messages/<id> needs the admin token: 401 without or with a wrong one, 200 with it', async () => {
  const reply = await send(['a@example.org', 'b@example.org'], 'token check');
  const id = /queued as (\S+)$/.exec(reply)![1]!;
  const url = `http://127.0.0.1:${gw().ports.admin}/messages/${id}`;
  assert.equal((await fetch(url)).status, 401);
  assert.equal((await fetch(url, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
  const search = `http://127.0.0.1:${gw().ports.admin}/messages?recipient=a@example.org`;
  assert.equal((await fetch(search)).status, 401, 'the search too');
  const ok = await adminRequest(gw().ports.admin, `/messages/${id}`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.id, id);
  assert.equal(ok.body.recipients.length, 2);
  assert.equal((await adminRequest(gw().ports.admin, '/messages/no-such-id')).status, 404);
});

test('the search by recipient or Message-ID returns only the messages that match', async () => {
  await send(['carol@example.org'], 'for carol');
  await send(['dave@example.org'], 'for dave');
  await send(['carol@example.org', 'erin@example.org'], 'for carol and erin');
  const carol = await adminRequest(gw().ports.admin, '/messages?recipient=CAROL@example.org');
  assert.equal(carol.status, 200);
  assert.deepEqual(
    carol.body.messages.map((m: { messageId: string }) => m.messageId),
    ['forcarolanderin@client.example', 'forcarol@client.example'],
  );
  const byId = await adminRequest(
    gw().ports.admin,
    `/messages?message_id=${encodeURIComponent('<fordave@client.example>')}`,
  );
  assert.deepEqual(
    byId.body.messages.map((m: { envelope: { to: string[] } }) => m.envelope.to),
    [['dave@example.org']],
  );
  assert.deepEqual((await adminRequest(gw().ports.admin, '/messages?recipient=nobody@example.org')).body.messages, []);
  assert.equal((await adminRequest(gw().ports.admin, '/messages')).status, 400);
});

test('smtp-gateway trace prints a refusal with its reason, --json the record, --live Cakemail’s status now', async () => {
  const refused = await send(['x@example.org'], 'cli refused', 'pending@example.com');
  const traceId = /\(trace ([0-9a-f-]{36})\)$/.exec(refused)![1]!;
  const shown = await cli(traceId);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, new RegExp(`^Trace ${traceId}`));
  assert.match(shown.stdout, /reply +550 5\.7\.1 Sender <pending@example\.com> is not a confirmed sender/);
  assert.match(shown.stdout, /\[sender\] pending@example\.com is not a confirmed sender of this account/);
  assert.match(shown.stdout, /login +d\*\*\*@example\.com|login d\*\*\*@example\.com/);

  const sent = await send(['ok@example.org', 'gone@bounce.example'], 'cli live');
  const id = /queued as (\S+)$/.exec(sent)![1]!;
  const json = await cli(id, '--json');
  assert.equal(json.code, 0, json.stderr);
  const record = JSON.parse(json.stdout);
  assert.equal(record.id, id);
  const live = await cli(id, '--live');
  assert.equal(live.code, 0, live.stderr);
  assert.match(live.stdout, /ok@example\.org: queued as [0-9a-f-]{36}.*now: delivered/);
  assert.match(live.stdout, /gone@bounce\.example: queued as [0-9a-f-]{36}.*now: bounce/);
  assert.match(live.stdout, /POST \/v2\/emails +201/);

  const search = await cli('--recipient', 'ok@example.org');
  assert.equal(search.code, 0);
  assert.match(search.stdout, new RegExp(`${id} +250 2\\.0\\.0`));

  const noToken = await run(process.execPath, [BIN, 'trace', id], {
    env: { ...process.env, ADMIN_TOKEN: '', ADMIN_PORT: String(gw().ports.admin), LOG_LEVEL: 'silent' },
  }).catch((e: { code: number; stderr: string }) => e);
  assert.equal((noToken as { code: number }).code, 2);
  assert.match((noToken as { stderr: string }).stderr, /ADMIN_TOKEN is not set/);
  const unknown = await cli('no-such-id');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no trace for no-such-id/);
});
