// A raw SMTP dialogue over TCP/TLS, for replies that real client libraries hide.
import net from 'node:net';
import tls from 'node:tls';

export class RawSmtp {
  #socket: net.Socket | tls.TLSSocket;
  #buffer = '';
  #waiters: (() => void)[] = [];
  /** The server's first reply (220 greeting, or a 421 refusal). */
  greeting = '';

  private constructor(socket: net.Socket | tls.TLSSocket) {
    this.#socket = socket;
    this.#attach(socket);
  }

  /** `from`: a loopback source address (any of 127.0.0.0/8), to play several client IPs. */
  static async connect(port: number, opts: { tls?: boolean; from?: string } = {}): Promise<RawSmtp> {
    const local = opts.from ? { localAddress: opts.from } : {};
    const socket = opts.tls
      ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...local })
      : net.connect({ port, host: '127.0.0.1', ...local });
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    const c = new RawSmtp(socket);
    c.greeting = await c.reply();
    return c;
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
    const c = await RawSmtp.connect(port, { tls: true, ...(from ? { from } : {}) });
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

  /** Resolves when the server has closed the connection (or after `timeoutMs`: false). */
  async closed(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#socket.destroyed && !this.#socket.readableEnded && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.#socket.destroyed || this.#socket.readableEnded;
  }

  close(): void {
    this.#socket.destroy();
  }
}
