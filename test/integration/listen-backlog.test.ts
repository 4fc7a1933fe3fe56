// A burst of connections larger than Node's default listen backlog (511): with it, 602 of 1,000
// clients connecting at once had their SYNs dropped and retried a second or more later. The
// gateway listens with LISTEN_BACKLOG (default 4096), so the kernel completes every connection of
// the burst even while the event loop is too busy to accept them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { startTestGateway } from '../helpers/gateway.ts';

const BURST = 1000;
const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());

/**
 * Opens `BURST` connections from another process while this process's event loop (the
 * gateway's) is blocked, so nothing is accepted: only the kernel's accept queue holds them.
 * Returns how many completed their TCP handshake within 700 ms.
 */
function connectedWhileBlocked(port: number): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `
    const net = require('node:net');
    let ok = 0;
    for (let i = 0; i < ${BURST}; i++) {
      const s = net.connect(${port}, '127.0.0.1');
      s.on('connect', () => ok++);
      s.on('error', () => {});
    }
    setTimeout(() => { process.stdout.write(String(ok)); process.exit(0); }, 700);
  `,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const done = new Promise<number>((resolve) => child.on('exit', () => resolve(Number(out))));
  // Block until the child has certainly started, connected and counted (node start-up included).
  const until = Date.now() + 2500;
  while (Date.now() < until) {
    /* the gateway accepts nothing meanwhile */
  }
  return done;
}

describe('listen backlog', { skip: somaxconn <= BURST ? `net.core.somaxconn is ${somaxconn}` : false }, () => {
  it(`a burst of ${BURST} connections is completed by the kernel while the gateway is busy (Node's default backlog dropped 488 of them)`, async () => {
    const gw = await startTestGateway();
    try {
      assert.equal(await connectedWhileBlocked(gw.ports.submission), BURST);
    } finally {
      await gw.shutdown();
    }
  });

  it('LISTEN_BACKLOG is what the kernel is given: 64 holds about 65 of the burst', async () => {
    const gw = await startTestGateway({ LISTEN_BACKLOG: '64' });
    try {
      const n = await connectedWhileBlocked(gw.ports.submission);
      assert.ok(n >= 60 && n <= 70, `connected ${n}`);
    } finally {
      await gw.shutdown();
    }
  });
});
