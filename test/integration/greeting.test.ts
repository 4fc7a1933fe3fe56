// The greeting is sent without smtp-server's fixed 100 ms hold (src/smtp/adapter.ts), and a
// client that sends a command before the banner is still refused.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, it } from 'node:test';
import { RawSmtp } from '../helpers/smtp-raw.ts';
import { useTestGateway } from '../helpers/gateway.ts';

/** Everything the server sends until it closes the connection (or 3 s pass). */
function readAll(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    const done = () => resolve(text);
    socket.on('close', done);
    socket.on('error', done);
    setTimeout(() => {
      socket.destroy();
      done();
    }, 3000).unref();
  });
}

describe('greeting', () => {
  const gw = useTestGateway();

  it('refuses a client that sends a command before the banner, with 421 4.5.0, and closes', async () => {
    const socket = net.connect({ port: gw().ports.submission, host: '127.0.0.1' });
    socket.write('EHLO early.example\r\n');
    const reply = readAll(socket);
    // Hold this process (which also runs the gateway) until the kernel has completed the
    // handshake and delivered the command: when the gateway first sees the connection, the
    // command is already waiting, as with a bot that does not wait for the banner.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
    const text = await reply;
    assert.match(text, /^421 4\.5\.0 Protocol error: command sent before the greeting\r\n$/m);
    assert.doesNotMatch(text, /^250/m);
  });

  it('greets a client that waits for the banner and serves it as usual', async () => {
    const c = await RawSmtp.connect(gw().ports.submission);
    assert.match(await c.cmd('EHLO ok.example'), /^250-/);
    assert.match(await c.cmd('QUIT'), /^221/);
    c.close();
  });
});
