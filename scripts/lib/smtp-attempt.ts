// One SMTP submission attempt over implicit TLS, as a retrying MTA makes it: a new connection,
// AUTH PLAIN, the envelope, the same bytes every time. The caller decides what to do with the
// reply (250 and 5xx are final, 4xx and dropped connections are retried).
//
// `phase` reports how far the attempt got, so a harness that kills the server can tell whether
// the kill landed while the message's bytes were in (the final dot sent, no reply yet): that is
// when a spool write or a synchronous delivery is under way, and when a 250 may have been lost.
import tls from 'node:tls';

export type Attempt =
  { kind: 'reply'; code: number; text: string; afterDot: boolean } | { kind: 'drop'; error: string; afterDot: boolean };

export type Phase = 'connecting' | 'dialogue' | 'data' | 'awaiting_reply' | 'done';

export interface AttemptOptions {
  port: number;
  user: string;
  password: string;
  from: string;
  rcpts: readonly string[];
  /** The message, CRLF line breaks, without the terminating dot. */
  data: string;
  timeoutMs?: number;
  onPhase?: (phase: Phase) => void;
}

export function smtpAttempt(o: AttemptOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    const phase = (p: Phase) => o.onPhase?.(p);
    phase('connecting');
    const socket = tls.connect({ port: o.port, host: '127.0.0.1', rejectUnauthorized: false });
    let buffer = '';
    let step = 0;
    let rcptIndex = 0;
    let afterDot = false;
    let settled = false;
    const done = (a: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      phase('done');
      socket.destroy();
      resolve(a);
    };
    const timer = setTimeout(() => done({ kind: 'drop', error: 'client timeout', afterDot }), o.timeoutMs ?? 60_000);
    const send = (line: string) => socket.write(line + '\r\n');
    socket.setEncoding('utf8');
    socket.on('secureConnect', () => phase('dialogue'));
    socket.on('error', (err) =>
      done({ kind: 'drop', error: (err as NodeJS.ErrnoException).code ?? err.message, afterDot }),
    );
    socket.on('close', () => done({ kind: 'drop', error: 'closed', afterDot }));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      for (;;) {
        const m = /^(?:\d{3}-[^\r\n]*\r\n)*(\d{3})(?: ([^\r\n]*))?\r\n/.exec(buffer);
        if (!m) return;
        buffer = buffer.slice(m[0].length);
        const code = Number(m[1]);
        const text = m[0].trimEnd();
        const fail = () => {
          send('QUIT');
          done({ kind: 'reply', code, text, afterDot });
        };
        switch (step) {
          case 0: // greeting
            if (code !== 220) return fail();
            send('EHLO crash-loop.example');
            step = 1;
            break;
          case 1:
            if (code !== 250) return fail();
            send(`AUTH PLAIN ${Buffer.from(`\0${o.user}\0${o.password}`).toString('base64')}`);
            step = 2;
            break;
          case 2:
            if (code !== 235) return fail();
            send(`MAIL FROM:<${o.from}>`);
            step = 3;
            break;
          case 3:
            if (code !== 250) return fail();
            send(`RCPT TO:<${o.rcpts[0]}>`);
            step = 4;
            break;
          case 4:
            if (code !== 250) return fail();
            rcptIndex++;
            if (rcptIndex < o.rcpts.length) send(`RCPT TO:<${o.rcpts[rcptIndex]}>`);
            else {
              send('DATA');
              step = 5;
            }
            break;
          case 5:
            if (code !== 354) return fail();
            phase('data');
            socket.write(o.data.replace(/\r\n\./g, '\r\n..') + '\r\n.\r\n', () => {
              if (settled) return;
              afterDot = true;
              phase('awaiting_reply');
            });
            step = 6;
            break;
          case 6:
            send('QUIT');
            done({ kind: 'reply', code, text, afterDot: true });
            break;
        }
      }
    });
  });
}
