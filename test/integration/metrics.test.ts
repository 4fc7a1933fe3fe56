// Every metric the dashboards and alerts rely on is exposed on /metrics with bounded labels, and
// moves when its event happens. Metrics whose event belongs to a feature not built here yet
// (rate limits, circuit breaker, connection refusals, ambiguous sends) are asserted exposed.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, test } from 'node:test';
import { DEMO_PASSWORD, DEMO_USER, useTestGateway, type startTestGateway } from '../helpers/gateway.ts';
import { RawSmtp } from '../helpers/smtp-raw.ts';

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

async function scrape(gw: Gateway): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${gw.ports.admin}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** The value of one series, e.g. value(text, 'smtp_gateway_connections{listener="smtps"}'). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Poll until `check` holds: onClose and gauges settle a tick after the socket closes. */
async function eventually(gw: Gateway, check: (text: string) => boolean, what: string): Promise<string> {
  let text = '';
  for (let i = 0; i < 50; i++) {
    text = await scrape(gw);
    if (check(text)) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(
    `${what}; last scrape:\n${text
      .split('\n')
      .filter((l) => l.startsWith('smtp_gateway_conn'))
      .join('\n')}`,
  );
}

const EXPOSED = [
  ['smtp_gateway_connections_total', 'counter'],
  ['smtp_gateway_connections', 'gauge'],
  ['smtp_gateway_connection_duration_seconds', 'histogram'],
  ['smtp_gateway_messages_total', 'counter'],
  ['smtp_gateway_recipients_total', 'counter'],
  ['smtp_gateway_auth_total', 'counter'],
  ['smtp_gateway_api_requests_total', 'counter'],
  ['smtp_gateway_api_request_duration_seconds', 'histogram'],
  ['smtp_gateway_message_duration_seconds', 'histogram'],
  ['smtp_gateway_message_size_bytes', 'histogram'],
  ['smtp_gateway_message_recipients', 'histogram'],
  ['smtp_gateway_rate_limited_total', 'counter'],
  ['smtp_gateway_circuit_state', 'gauge'],
  ['smtp_gateway_token_cache_entries', 'gauge'],
  ['smtp_gateway_dedupe_hits_total', 'counter'],
  ['smtp_gateway_test_mode_messages_total', 'counter'],
  ['smtp_gateway_connections_refused_total', 'counter'],
  ['smtp_gateway_api_ambiguous_total', 'counter'],
  ['smtp_gateway_state_store_errors_total', 'counter'],
  // Process and event loop (prom-client default metrics, same prefix).
  ['smtp_gateway_process_cpu_seconds_total', 'counter'],
  ['smtp_gateway_process_resident_memory_bytes', 'gauge'],
  ['smtp_gateway_nodejs_eventloop_lag_seconds', 'gauge'],
  ['smtp_gateway_nodejs_eventloop_lag_p99_seconds', 'gauge'],
  ['smtp_gateway_nodejs_heap_size_used_bytes', 'gauge'],
  ['smtp_gateway_nodejs_active_handles_total', 'gauge'],
] as const;

describe('metrics', () => {
  const gw = useTestGateway();

  test('every metric is exposed with its type, all in the smtp_gateway_ namespace', async () => {
    const text = await scrape(gw());
    for (const [name, type] of EXPOSED) assert.match(text, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), name);
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
    assert.deepEqual(
      names.filter((n) => !n.startsWith('smtp_gateway_')),
      [],
    );
    // Before any breaker exists the circuit is closed, and says so.
    assert.equal(value(text, 'smtp_gateway_circuit_state'), 0);
  });

  test('a delivered message moves the message, recipient, API, auth, size and connection metrics', async () => {
    // A Message-ID gives the message an identity, so its resend below is recognised.
    const body = `From: ${DEMO_USER}\r\nSubject: metrics ${Date.now()}\r\nMessage-ID: <metrics-${Date.now()}@client.example>\r\n\r\nhello\r\n`;
    const c = await RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD);
    assert.match(await c.transaction(DEMO_USER, ['m1@example.org', 'm2@example.org'], body), /^250 /);
    const during = await scrape(gw());
    assert.equal(value(during, 'smtp_gateway_connections{listener="smtps"}'), 1, 'one connection open');
    c.close();

    const text = await eventually(
      gw(),
      (t) => value(t, 'smtp_gateway_connections{listener="smtps"}') === 0,
      'the closed connection is uncounted',
    );
    assert.equal(value(text, 'smtp_gateway_connections_total{listener="smtps"}'), 1);
    assert.equal(value(text, 'smtp_gateway_connection_duration_seconds_count{listener="smtps"}'), 1);
    assert.equal(value(text, 'smtp_gateway_auth_total{result="ok"}'), 1);
    assert.equal(value(text, 'smtp_gateway_messages_total{outcome="accepted"}'), 1);
    assert.equal(value(text, 'smtp_gateway_recipients_total{result="queued"}'), 2);
    assert.equal(value(text, 'smtp_gateway_api_requests_total{endpoint="emails",result="201"}'), 2);
    assert.equal(value(text, 'smtp_gateway_api_request_duration_seconds_count{endpoint="emails"}'), 2);
    assert.equal(value(text, 'smtp_gateway_message_duration_seconds_count'), 1);
    assert.equal(value(text, 'smtp_gateway_message_size_bytes_count'), 1);
    // The DATA bytes as received, up to the final dot line: RawSmtp sends CRLF before the dot
    // after the body's own final CRLF, so one empty line (2 bytes) more than the body.
    assert.equal(value(text, 'smtp_gateway_message_size_bytes_sum'), Buffer.byteLength(body) + 2);
    assert.equal(value(text, 'smtp_gateway_message_recipients_sum'), 2);
    assert.equal(value(text, 'smtp_gateway_token_cache_entries'), 1, 'the demo login holds a cached token');

    // The same bytes again: both recipients are resends, skipped without an API call.
    const again = await RawSmtp.login(gw().ports.smtps, DEMO_USER, DEMO_PASSWORD);
    assert.match(await again.transaction(DEMO_USER, ['m1@example.org', 'm2@example.org'], body), /^250 /);
    again.close();
    const after = await scrape(gw());
    assert.equal(value(after, 'smtp_gateway_dedupe_hits_total'), 2);
    assert.equal(value(after, 'smtp_gateway_messages_total{outcome="duplicate"}'), 1);
    assert.equal(value(after, 'smtp_gateway_api_requests_total{endpoint="emails",result="201"}'), 2, 'no new API call');
  });

  test('a failed AUTH is counted under its reply label', async () => {
    const c = await RawSmtp.connect(gw().ports.smtps, { tls: true });
    await c.cmd('EHLO metrics.example');
    assert.match(await c.authPlain(DEMO_USER, 'wrong-password'), /^535 /);
    c.close();
    assert.equal(value(await scrape(gw()), 'smtp_gateway_auth_total{result="auth_invalid"}'), 1);
  });

  test('no label carries an address, a login or an id (bounded series)', async () => {
    const text = await scrape(gw());
    assert.doesNotMatch(text, /@/, 'no address in any series');
    assert.doesNotMatch(text, /[0-9a-f]{8}-[0-9a-f]{4}-/, 'no message or Cakemail id in any series');
  });
});

describe('the open-connections gauge never goes negative', () => {
  const gw = useTestGateway({ MAX_CONNECTIONS: '1' });

  test('a client that hangs up before the greeting leaves the gauge at zero', async () => {
    // smtp-server waits 100 ms for early talkers before onConnect; a close inside that window
    // still reaches onClose.
    await new Promise<void>((resolve, reject) => {
      const s = connect(gw().ports.submission, '127.0.0.1', () => {
        s.destroy();
        resolve();
      });
      s.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    await eventually(
      gw(),
      (t) => (value(t, 'smtp_gateway_connections{listener="submission"}') ?? 0) === 0,
      'the gauge went back to 0',
    );
  });

  test('a connection over MAX_CONNECTIONS (421) does not take the gauge below zero', async () => {
    const before = await scrape(gw());
    const admittedBefore = value(before, 'smtp_gateway_connections_total{listener="submission"}') ?? 0;
    // Authenticated, so it is not the idle connection a newcomer may take the slot of.
    const first = await RawSmtp.loginStartTls(gw().ports.submission, DEMO_USER, DEMO_PASSWORD);
    const second = connect(gw().ports.submission, '127.0.0.1');
    const refused = await new Promise<string>((resolve) => {
      let got = '';
      second.on('data', (d) => (got += d.toString()));
      second.once('close', () => resolve(got));
    });
    assert.match(refused, /^421 /);
    await new Promise((r) => setTimeout(r, 300)); // the refused connection's onClose has run
    assert.equal(
      value(await scrape(gw()), 'smtp_gateway_connections{listener="submission"}'),
      1,
      'the first one is still open and counted',
    );
    first.close();
    const text = await eventually(
      gw(),
      (t) => value(t, 'smtp_gateway_connections{listener="submission"}') === 0,
      'the gauge went back to 0',
    );
    // connections_total counts admitted connections: the first one, not the refused one.
    assert.equal(value(text, 'smtp_gateway_connections_total{listener="submission"}'), admittedBefore + 1);
    assert.match(text, /^smtp_gateway_connections_refused_total\{reason="[^"]+"\} [1-9]/m, 'the refusal is counted');
  });
});
