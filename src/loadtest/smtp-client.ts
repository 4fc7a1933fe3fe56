// A minimal raw-socket SMTP client for load generation: one object per connection, replies read
// straight off the socket, the message written as two buffers. A full client library spends
// more CPU per message than a fast server does (see docs/benchmarks.md), and the generator
// shares the machine with the server it measures. Every step returns a typed outcome naming
// its stage, so the report can say where a server refused.
import net from 'node:net';
import tls from 'node:tls';
import type { LoadOptions } from './options.ts';

export type Stage = 'connect' | 'greeting' | 'ehlo' | 'starttls' | 'auth' | 'mail' | 'rcpt' | 'data' | 'dot';

/** A reply code, or what happened instead of a reply. */
export type FailureCode = number | 'timeout' | 'closed' | 'error';
export interface StepFailure {
  ok: false;
  stage: Stage;
  code: FailureCode;
  text: string;
}
export type Step<T = void> = ({ ok: true } & (T extends void ? object : { value: T })) | StepFailure;

interface Reply {
  code: number;
  text: string;
}
type ReplyOrFailure = { ok: true; reply: Reply } | { ok: false; code: 'timeout' | 'closed' | 'error'; text: string };

/** The connection settings of a load run, plus what each connection names and waits for. */
export interface ConnectOptions extends Pick<
  LoadOptions,
  'host' | 'port' | 'tls' | 'insecure' | 'auth' | 'user' | 'pass'
> {
  ehloName: string;
  timeoutMs: number;
}

export class SmtpConnection {
  #socket: net.Socket;
  #buffer = '';
  #closed = false;
  #waiter: ((r: ReplyOrFailure) => void) | undefined;
  readonly #timeoutMs: number;

  private constructor(socket: net.Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    this.#attach(socket);
  }

  /** Connect, read the greeting, EHLO, STARTTLS + EHLO, AUTH: a session ready for MAIL. */
  static async open(o: ConnectOptions): Promise<{ ok: true; conn: SmtpConnection } | StepFailure> {
    const socket = await connectSocket(o);
    if (!socket.ok) return socket;
    const c = new SmtpConnection(socket.socket, o.timeoutMs);
    const fail = (f: StepFailure) => {
      c.destroy();
      return f;
    };
    let r = await c.#expect('greeting', 220);
    if (!r.ok) return fail(r);
    r = await c.#ehlo(o.ehloName);
    if (!r.ok) return fail(r);
    if (o.tls === 'starttls') {
      r = await c.#command('starttls', 'STARTTLS', 220);
      if (!r.ok) return fail(r);
      const up = await c.#upgrade(o);
      if (!up.ok) return fail(up);
      r = await c.#ehlo(o.ehloName);
      if (!r.ok) return fail(r);
    }
    if (o.auth === 'plain') {
      r = await c.#command('auth', `AUTH PLAIN ${Buffer.from(`\0${o.user}\0${o.pass}`).toString('base64')}`, 235);
      if (!r.ok) return fail(r);
    } else if (o.auth === 'login') {
      r = await c.#command('auth', 'AUTH LOGIN', 334);
      if (r.ok) r = await c.#command('auth', Buffer.from(o.user).toString('base64'), 334);
      if (r.ok) r = await c.#command('auth', Buffer.from(o.pass).toString('base64'), 235);
      if (!r.ok) return fail(r);
    }
    return { ok: true, conn: c };
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * One transaction. Resolves with the time from the end of the final dot's write to the reply
   * (ms), or the first refusal. After a refused MAIL/RCPT/DATA the session is RSET and reusable.
   */
  async send(
    from: string,
    recipients: readonly string[],
    headers: string,
    body: Buffer,
  ): Promise<{ ok: true; dotMs: number; reply: string } | StepFailure> {
    let r = await this.#command('mail', `MAIL FROM:<${from}>`, 250);
    if (!r.ok) return this.#abort(r);
    for (const rcpt of recipients) {
      r = await this.#command('rcpt', `RCPT TO:<${rcpt}>`, 250);
      if (!r.ok) return this.#abort(r);
    }
    r = await this.#command('data', 'DATA', 354);
    if (!r.ok) return this.#abort(r);
    let dotAt = 0;
    const answer = this.#reply();
    this.#socket.cork();
    this.#socket.write(headers, 'latin1');
    this.#socket.write(body, () => {
      dotAt = performance.now();
    });
    this.#socket.uncork();
    const res = await answer;
    const now = performance.now();
    if (!res.ok) return { ok: false, stage: 'dot', code: res.code, text: res.text };
    if (res.reply.code !== 250) return { ok: false, stage: 'dot', code: res.reply.code, text: res.reply.text };
    return { ok: true, dotMs: now - (dotAt || now), reply: res.reply.text };
  }

  async quit(): Promise<void> {
    if (this.#closed) return;
    this.#socket.write('QUIT\r\n');
    await this.#reply();
    this.destroy();
  }

  destroy(): void {
    this.#closed = true;
    this.#socket.destroy();
  }

  /** A refusal inside a transaction: RSET so the next message starts clean. */
  async #abort(f: StepFailure): Promise<StepFailure> {
    if (typeof f.code === 'number' && !this.#closed) {
      const r = await this.#command(f.stage, 'RSET', 250);
      if (!r.ok) this.destroy();
    } else {
      this.destroy();
    }
    return f;
  }

  async #ehlo(name: string): Promise<Step> {
    const r = await this.#send(`EHLO ${name}`);
    if (!r.ok) return { ok: false, stage: 'ehlo', code: r.code, text: r.text };
    if (r.reply.code !== 250) return { ok: false, stage: 'ehlo', code: r.reply.code, text: r.reply.text };
    return { ok: true };
  }

  async #command(stage: Stage, line: string, expected: number): Promise<Step> {
    const r = await this.#send(line);
    if (!r.ok) return { ok: false, stage, code: r.code, text: r.text };
    if (r.reply.code !== expected) return { ok: false, stage, code: r.reply.code, text: r.reply.text };
    return { ok: true };
  }

  async #expect(stage: Stage, expected: number): Promise<Step> {
    const r = await this.#reply();
    if (!r.ok) return { ok: false, stage, code: r.code, text: r.text };
    if (r.reply.code !== expected) return { ok: false, stage, code: r.reply.code, text: r.reply.text };
    return { ok: true };
  }

  #send(line: string): Promise<ReplyOrFailure> {
    if (this.#closed) return Promise.resolve({ ok: false, code: 'closed', text: 'connection closed' });
    const answer = this.#reply();
    this.#socket.write(line + '\r\n', 'latin1');
    return answer;
  }

  #reply(): Promise<ReplyOrFailure> {
    const ready = this.#take();
    if (ready) return Promise.resolve({ ok: true, reply: ready });
    if (this.#closed) return Promise.resolve({ ok: false, code: 'closed', text: 'connection closed' });
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve({ ok: false, code: 'timeout', text: `no reply within ${this.#timeoutMs} ms` });
      }, this.#timeoutMs);
      this.#waiter = (r) => {
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve(r);
      };
    });
  }

  /** A complete (possibly multi-line) reply from the buffer, if there is one. */
  #take(): Reply | undefined {
    let start = 0;
    for (;;) {
      const eol = this.#buffer.indexOf('\r\n', start);
      if (eol === -1) return undefined;
      // The last line of a reply has a space (or nothing) after the code; others a dash.
      if (this.#buffer.charCodeAt(start + 3) !== 45 /* '-' */) {
        const text = this.#buffer.slice(0, eol);
        this.#buffer = this.#buffer.slice(eol + 2);
        return { code: Number(text.slice(start, start + 3)), text };
      }
      start = eol + 2;
    }
  }

  #attach(socket: net.Socket): void {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer += chunk.toString('latin1');
      if (!this.#waiter) return;
      const reply = this.#take();
      if (reply) this.#waiter({ ok: true, reply });
    });
    const onEnd = (text: string, code: 'closed' | 'error') => {
      this.#closed = true;
      this.#waiter?.({ ok: false, code, text });
    };
    socket.on('error', (err) => onEnd(err.message, 'error'));
    socket.on('close', () => onEnd('connection closed', 'closed'));
  }

  async #upgrade(o: ConnectOptions): Promise<Step> {
    const plain = this.#socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    this.#buffer = '';
    const secure = tls.connect({
      socket: plain,
      servername: net.isIP(o.host) ? undefined : o.host,
      rejectUnauthorized: !o.insecure,
    });
    const done = await handshake(secure, o.timeoutMs);
    if (!done.ok) return { ok: false, stage: 'starttls', code: done.code, text: done.text };
    this.#socket = secure;
    this.#attach(secure);
    return { ok: true };
  }
}

async function connectSocket(o: ConnectOptions): Promise<{ ok: true; socket: net.Socket } | StepFailure> {
  const socket =
    o.tls === 'implicit'
      ? tls.connect({
          host: o.host,
          port: o.port,
          servername: net.isIP(o.host) ? undefined : o.host,
          rejectUnauthorized: !o.insecure,
        })
      : net.connect({ host: o.host, port: o.port });
  socket.setNoDelay(true);
  const done =
    o.tls === 'implicit' ? await handshake(socket as tls.TLSSocket, o.timeoutMs) : await connected(socket, o.timeoutMs);
  if (!done.ok) {
    socket.destroy();
    return { ok: false, stage: 'connect', code: done.code, text: done.text };
  }
  return { ok: true, socket };
}

type Settle = { ok: true } | { ok: false; code: 'timeout' | 'error' | 'closed'; text: string };

function connected(socket: net.Socket, timeoutMs: number): Promise<Settle> {
  return settle(socket, 'connect', timeoutMs);
}

function handshake(socket: tls.TLSSocket, timeoutMs: number): Promise<Settle> {
  return settle(socket, 'secureConnect', timeoutMs);
}

function settle(socket: net.Socket, event: string, timeoutMs: number): Promise<Settle> {
  return new Promise((resolve) => {
    const finish = (r: Settle) => {
      clearTimeout(timer);
      socket.off(event, onOk);
      socket.off('error', onError);
      socket.off('close', onClose);
      resolve(r);
    };
    const onOk = () => finish({ ok: true });
    const onError = (err: Error) => finish({ ok: false, code: 'error', text: err.message });
    const onClose = () => finish({ ok: false, code: 'closed', text: 'connection closed' });
    const timer = setTimeout(
      () => finish({ ok: false, code: 'timeout', text: `no ${event} within ${timeoutMs} ms` }),
      timeoutMs,
    );
    socket.once(event, onOk);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}
