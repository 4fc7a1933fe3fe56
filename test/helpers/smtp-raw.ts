// A raw SMTP dialogue over TCP/TLS, for replies that real client libraries hide.
import net from 'node:net';
import tls from 'node:tls';

export interface ConnectOptions {
  tls?: boolean;
  /** Source address (any of 127.0.0.0/8 works on Linux loopback), for per-IP limits. */
  localAddress?: string;
  host?: string;
  /** Bytes written right after the TCP connect, before TLS (a PROXY protocol header). */
  preamble?: Buffer;
}

export class RawSmtp {
  #socket: net.Socket | tls.TLSSocket;
  /** The first reply of the session (220, or a 421 refusal). */
  greeting = '';
  #buffer = '';
  #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket | tls.TLSSocket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  static async connect(port: number, opts: ConnectOptions = {}): Promise<RawSmtp> {
    const host = opts.host ?? '127.0.0.1';
    const tcp = net.connect({ port, host, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      tcp.once('connect', () => resolve());
      tcp.once('error', reject);
    });
    if (opts.preamble) tcp.write(opts.preamble);
    let socket: net.Socket | tls.TLSSocket = tcp;
    if (opts.tls) {
      socket = tls.connect({ socket: tcp, rejectUnauthorized: false, servername: 'localhost' });
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', () => resolve());
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('closed before the TLS handshake completed')));
      });
    }
    const c = new RawSmtp(socket);
    c.greeting = await c.reply();
    return c;
  }

  /** The socket, for tests that drive TLS directly (renegotiation). */
  get socket(): net.Socket | tls.TLSSocket {
    return this.#socket;
  }

  /** Resolves when the server has closed the connection (or after timeoutMs, with false). */
  async closed(timeoutMs = 5000): Promise<boolean> {
    if (this.#socket.destroyed || this.#socket.readableEnded) return true;
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve(true);
      };
      this.#socket.once('close', done);
      this.#socket.once('end', done);
    });
  }

  #attach(socket: net.Socket | tls.TLSSocket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.#buffer += d;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('close', () => {
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Read one complete (possibly multi-line) reply. */
  async reply(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(this.#buffer);
      if (m) {
        this.#buffer = this.#buffer.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.#socket.destroyed) return this.#buffer ? this.#buffer.trimEnd() : '(closed)';
      if (Date.now() > deadline) throw new Error(`no reply; buffer=${JSON.stringify(this.#buffer)}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  async cmd(line: string): Promise<string> {
    this.#socket.write(line + '\r\n');
    return this.reply();
  }

  write(data: string | Buffer): void {
    this.#socket.write(data);
  }

  async startTls(): Promise<void> {
    const r = await this.cmd('STARTTLS');
    if (!r.startsWith('220')) throw new Error(`STARTTLS refused: ${r}`);
    this.#socket.removeAllListeners('data');
    const secure = tls.connect({ socket: this.#socket as net.Socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    this.#socket = secure;
    this.#attach(secure);
  }

  /** Connect over implicit TLS, EHLO and AUTH PLAIN; throws unless AUTH succeeded. */
  static async login(port: number, user: string, pass: string, from?: string): Promise<RawSmtp> {
    const c = await RawSmtp.connect(port, { tls: true, ...(from ? { localAddress: from } : {}) });
    await c.cmd('EHLO client.example');
    const auth = await c.authPlain(user, pass);
    if (!auth.startsWith('235 ')) throw new Error(`AUTH failed: ${auth}`);
    return c;
  }

  /** Connect to the STARTTLS listener, EHLO, STARTTLS, EHLO and AUTH PLAIN; throws unless AUTH succeeded. */
  static async loginStartTls(port: number, user: string, pass: string, from?: string): Promise<RawSmtp> {
    const c = await RawSmtp.connect(port, from ? { localAddress: from } : {});
    await c.cmd('EHLO client.example');
    await c.startTls();
    await c.cmd('EHLO client.example');
    const auth = await c.authPlain(user, pass);
    if (!auth.startsWith('235 ')) throw new Error(`AUTH failed: ${auth}`);
    return c;
  }

  /**
   * MAIL, RCPT for each recipient, DATA and the message (dot-stuffed, as every client does);
   * returns the reply to the final dot. Throws if the envelope is not accepted.
   */
  async transaction(from: string, rcpts: readonly string[], message: string): Promise<string> {
    const mail = await this.cmd(`MAIL FROM:<${from}>`);
    if (!mail.startsWith('250')) throw new Error(`MAIL refused: ${mail}`);
    for (const r of rcpts) {
      const rcpt = await this.cmd(`RCPT TO:<${r}>`);
      if (!rcpt.startsWith('250')) throw new Error(`RCPT refused: ${rcpt}`);
    }
    const data = await this.cmd('DATA');
    if (!data.startsWith('354')) throw new Error(`DATA refused: ${data}`);
    return this.cmd(message.replace(/\r\n\./g, '\r\n..') + '\r\n.');
  }

  async authPlain(user: string, pass: string): Promise<string> {
    return this.cmd(`AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`);
  }

  close(): void {
    this.#socket.destroy();
  }
}
