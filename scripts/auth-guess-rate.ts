// Password guessing against a local gateway (embedded sandbox, loopback only), with the
// brute-force limits off and then at their defaults. Bounded: DURATION_S per phase, 20
// connections at most. Figures go to docs/security.md.
//   node --import tsx scripts/auth-guess-rate.ts [DURATION_S=20] [phase2]
// Phase 1: one attacking IP (127.0.0.80), 20 parallel connections, a new wrong password per
//          AUTH, reconnecting whenever closed; meanwhile a legitimate user logs in once a
//          second from a clean IP (127.0.0.81).
// Phase 2: 20 attacking IPs (127.0.0.100-119), one connection each, all guessing the demo
//          user's password; the demo user's application server (127.0.0.90, logged in before
//          the attack) logs in once a second, and so does a never-seen IP (127.0.0.91) from
//          3 s into the attack on.
import { pino } from 'pino';
import { startGateway, type Gateway } from '../src/app.ts';
import { loadConfig } from '../src/config/load.ts';
import { RawSmtp } from '../test/helpers/smtp-raw.ts';

const DURATION_S = Number(process.argv[2] ?? 20);
const USER = 'demo@example.com';
const PASSWORD = 'demo-password';
const OFF = {
  AUTH_MAX_FAILURES_PER_CONNECTION: '1000000',
  AUTH_MAX_FAILURES_PER_IP: '1000000',
  AUTH_MAX_FAILURES_PER_USER: '1000000',
};

async function gateway(env: Record<string, string>): Promise<Gateway> {
  const loaded = loadConfig({
    SMTP_SUBMISSION_PORT: '0',
    SMTP_SMTPS_PORT: '0',
    SMTP_ALT_SUBMISSION_PORT: '0',
    ADMIN_PORT: '0',
    SANDBOX_PORT: '0',
    SHUTDOWN_TIMEOUT_MS: '2000',
    ...env,
  });
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return startGateway(loaded.config, pino({ level: 'silent' }));
}

const tokenCalls = async (gw: Gateway) =>
  ((await (await fetch(`${gw.apiUrl}/_sandbox/requests`)).json()) as Record<string, number>)['POST /token'] ?? 0;

interface Tally {
  checked: number;
  refused: number;
  other: number;
}

/** One attacking connection loop until the deadline; counts replies by kind. */
async function attacker(
  gw: Gateway,
  from: string,
  user: string,
  deadline: number,
  t: Tally,
  id: string,
): Promise<void> {
  let n = 0;
  while (Date.now() < deadline) {
    let c: RawSmtp;
    try {
      c = await RawSmtp.connect(gw.ports.smtps, { tls: true, localAddress: from });
    } catch {
      t.other++;
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    if (!c.greeting.startsWith('220')) {
      t.refused++;
      c.close();
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    await c.cmd('EHLO attacker.example');
    while (Date.now() < deadline) {
      const r = await c.authPlain(user, `guess-${id}-${n++}`).catch(() => '(closed)');
      if (r.startsWith('535') || /^421 4\.7\.0 Authentication credentials invalid/.test(r)) t.checked++;
      else if (r.startsWith('454') || r.startsWith('421')) t.refused++;
      else t.other++;
      if (r.startsWith('421') || r === '(closed)') break;
    }
    c.close();
  }
}

/** A legitimate login once a second until the deadline; returns [ok, attempts]. */
async function legit(gw: Gateway, from: string, deadline: number, startAfterMs = 0): Promise<[number, number]> {
  await new Promise((r) => setTimeout(r, startAfterMs));
  let ok = 0;
  let tries = 0;
  while (Date.now() < deadline) {
    tries++;
    try {
      (await RawSmtp.login(gw.ports.smtps, USER, PASSWORD, from)).close();
      ok++;
    } catch {
      /* counted as a failure */
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return [ok, tries];
}

async function phase1(label: string, env: Record<string, string>): Promise<void> {
  const gw = await gateway(env);
  try {
    const t: Tally = { checked: 0, refused: 0, other: 0 };
    const deadline = Date.now() + DURATION_S * 1000;
    const [legitResult] = await Promise.all([
      legit(gw, '127.0.0.81', deadline),
      ...Array.from({ length: 20 }, (_, i) =>
        attacker(gw, '127.0.0.80', `victim${i}@example.com`, deadline, t, String(i)),
      ),
    ]);
    console.log(
      `one IP, 20 connections, ${label}: ${t.checked} guesses checked in ${DURATION_S} s = ${(t.checked / DURATION_S).toFixed(2)}/s; ` +
        `${t.refused} refused unchecked; POST /token ${await tokenCalls(gw)}; legit user from a clean IP ${legitResult[0]}/${legitResult[1]}`,
    );
  } finally {
    await gw.shutdown();
  }
}

async function phase2(label: string, env: Record<string, string>): Promise<void> {
  const gw = await gateway(env);
  try {
    (await RawSmtp.login(gw.ports.smtps, USER, PASSWORD, '127.0.0.90')).close(); // the app server, before the attack
    const t: Tally = { checked: 0, refused: 0, other: 0 };
    const deadline = Date.now() + DURATION_S * 1000;
    const [app, fresh] = await Promise.all([
      legit(gw, '127.0.0.90', deadline),
      // Starts once the attack has had time to lock the username: a first login before that
      // would make this IP a known one.
      legit(gw, '127.0.0.91', deadline, 3000),
      ...Array.from({ length: 20 }, (_, i) => attacker(gw, `127.0.0.${100 + i}`, USER, deadline, t, String(i))),
    ]);
    console.log(
      `20 IPs against ${USER}, ${label}: ${t.checked} guesses checked in ${DURATION_S} s = ${(t.checked / DURATION_S).toFixed(2)}/s; ` +
        `${t.refused} refused unchecked; POST /token ${await tokenCalls(gw)}; ` +
        `app server (logged in before) ${app[0]}/${app[1]}; never-seen IP with the right password ${fresh[0]}/${fresh[1]}`,
    );
  } finally {
    await gw.shutdown();
  }
}

const only = process.argv[3];
if (only !== 'phase2') {
  await phase1('limits off', OFF);
  await phase1('defaults', {});
}
await phase2('limits off', OFF);
await phase2('defaults', {});
