// The session deadlines on a fake clock: what is held against the client, and what is not.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { SessionDeadlines, type GuardedConnection } from '../../src/smtp/deadlines.ts';
import type { Reply } from '../../src/delivery/replies.ts';

const LIMITS = {
  tlsHandshakeTimeoutMs: 10_000,
  commandTimeoutMs: 300_000,
  dataMinRate: 500,
  dataRateGraceMs: 30_000,
  sessionMaxMs: 1_800_000,
};

function fake() {
  const state = {
    inData: false,
    waiting: false,
    upgrading: false,
    closed: false,
    cut: [] as string[],
    aborted: [] as string[],
  };
  const conn: GuardedConnection = {
    inData: () => state.inData,
    waitingOnServer: () => state.waiting,
    upgrading: () => state.upgrading,
    closed: () => state.closed,
    cut: (r: Reply) => state.cut.push(`${r.code} ${r.enhanced} ${r.label}`),
    abort: (r: Reply) => state.aborted.push(r.label),
  };
  return { state, conn };
}

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 }));
afterEach(() => mock.timers.reset());

test('a command line: 300 s from its first byte, however many bytes trickle in', () => {
  const { state, conn } = fake();
  const d = new SessionDeadlines(LIMITS, conn);
  for (let t = 0; t < 299; t++) {
    d.onBytes(1);
    mock.timers.tick(1000);
  }
  assert.deepEqual(state.cut, []);
  mock.timers.tick(1000);
  assert.deepEqual(state.cut, ['421 4.4.2 command']);
});

test('each complete line starts the clock again; silence between lines is not counted', () => {
  const { state, conn } = fake();
  const d = new SessionDeadlines({ ...LIMITS, sessionMaxMs: 10_000_000 }, conn);
  for (let i = 0; i < 10; i++) {
    d.onBytes(10);
    mock.timers.tick(200_000);
    d.onCommand();
    mock.timers.tick(250_000);
  }
  assert.deepEqual(state.cut, []);
  d.dispose();
});

test('time waiting on the server restarts a partial line', () => {
  const { state, conn } = fake();
  const d = new SessionDeadlines(LIMITS, conn);
  d.onBytes(5);
  state.waiting = true;
  mock.timers.tick(300_000);
  assert.deepEqual(state.cut, []);
  state.waiting = false;
  mock.timers.tick(299_000);
  assert.deepEqual(state.cut, []);
  mock.timers.tick(1_000);
  assert.deepEqual(state.cut, ['421 4.4.2 command']);
});

test('DATA: deadline = start + grace + bytes / rate (each byte buys 2 ms at 500 B/s)', () => {
  const { state, conn } = fake();
  const d = new SessionDeadlines(LIMITS, conn);
  state.inData = true;
  d.onDataStart();
  d.onBytes(5_000); // 10 s of credit
  mock.timers.tick(39_999);
  assert.deepEqual(state.cut, []);
  mock.timers.tick(1);
  assert.deepEqual(state.cut, ['421 4.4.2 data_rate']);
});

test('DATA at exactly the floor is never cut; DATA_MIN_RATE_BYTES_PER_S=0 turns the floor off', () => {
  const { state, conn } = fake();
  const d = new SessionDeadlines(LIMITS, conn);
  state.inData = true;
  d.onDataStart();
  for (let s = 0; s < 120; s++) {
    d.onBytes(500);
    mock.timers.tick(1000);
  }
  assert.deepEqual(state.cut, []);
  d.dispose();
  const off = fake();
  const d2 = new SessionDeadlines({ ...LIMITS, dataMinRate: 0 }, off.conn);
  off.state.inData = true;
  d2.onDataStart();
  mock.timers.tick(600_000);
  assert.deepEqual(off.state.cut, []);
  d2.dispose();
});

test('STARTTLS handshake: dropped without a reply at the limit, not once it completed', () => {
  const { state, conn } = fake();
  const d = new SessionDeadlines(LIMITS, conn);
  state.upgrading = true;
  d.onHandshakeStart();
  mock.timers.tick(10_000);
  assert.deepEqual(state.aborted, ['tls_handshake']);
  const ok = fake();
  const d2 = new SessionDeadlines(LIMITS, ok.conn);
  ok.state.upgrading = true;
  d2.onHandshakeStart();
  mock.timers.tick(5_000);
  ok.state.upgrading = false;
  d2.onHandshakeDone();
  mock.timers.tick(60_000);
  assert.deepEqual(ok.state.aborted, []);
  d2.dispose();
});

test('the session limit waits for a message being answered, then closes', () => {
  const { state, conn } = fake();
  new SessionDeadlines(LIMITS, conn);
  state.waiting = true;
  mock.timers.tick(1_800_000);
  assert.deepEqual(state.cut, []);
  mock.timers.tick(5_000);
  assert.deepEqual(state.cut, []);
  state.waiting = false;
  mock.timers.tick(1_000);
  assert.deepEqual(state.cut, ['421 4.4.2 session']);
});
