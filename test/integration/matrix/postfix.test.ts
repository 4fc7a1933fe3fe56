// Compatibility matrix: Postfix as a relay client, the way legacy servers send through a
// smarthost (Debian package postfix, installed with debconf "No configuration"). Each test
// builds a private Postfix instance in a temp dir — its own config_directory, queue_directory
// and data_directory, no smtpd listener at all — whose relayhost is the gateway, submits the
// matrix message with `sendmail -C <dir> -t` (the Bcc header is in the message: Postfix's
// cleanup turns it into an envelope recipient and removes it), waits for the sandbox, and stops
// the instance. Postfix queues must be owned by the `postfix` user: these tests need root.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { Gateway } from '../../../src/app.ts';
import {
  DEMO_PASSWORD,
  DEMO_USER,
  clearSandbox,
  sandboxEmails,
  setFault,
  startTestGateway,
} from '../../helpers/gateway.ts';
import {
  BCC,
  FROM_ADDRESS,
  RECIPIENTS,
  assertMatrixPayloads,
  rawMessage,
  runWithInput,
  waitForEmails,
} from '../../helpers/matrix.ts';
import { skipWithout } from '../../helpers/tools.ts';
import { settled } from '../../helpers/until.ts';

const run = promisify(execFile);
const POSTFIX = '/usr/sbin/postfix';
const SENDMAIL = '/usr/sbin/sendmail';

const skip =
  skipWithout(existsSync(POSTFIX) ? POSTFIX : 'postfix', 'postfix') ||
  (process.getuid?.() === 0
    ? false
    : `a private Postfix instance needs root (its queue belongs to user postfix); running as ${userInfo().username}`);

// Only the services a relay-only client needs: no smtpd (nothing listens), no local delivery.
const MASTER_CF = `
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

interface Instance {
  config: string;
  maillog: () => string;
  stop: () => Promise<void>;
}

/** A private Postfix instance relaying everything to the gateway on `port`. */
async function startPostfix(port: number, opts: { wrappermode: boolean }): Promise<Instance> {
  const root = mkdtempSync(join(tmpdir(), 'gw-matrix-postfix-'));
  chmodSync(root, 0o755); // Postfix daemons run as user postfix and must reach their queue
  const config = join(root, 'etc');
  const queue = join(root, 'queue');
  const data = join(root, 'data');
  for (const d of [config, queue, data]) mkdirSync(d, { mode: 0o755 });
  const { uid } = userInfoOf('postfix');
  chownSync(data, uid, -1);
  const maillog = join(root, 'maillog');
  writeFileSync(
    join(config, 'main.cf'),
    `compatibility_level = 3.6
queue_directory = ${queue}
data_directory = ${data}
# Without syslog, logs go to a file (postlogd); that file must be under an allowed prefix.
maillog_file = ${maillog}
maillog_file_prefixes = ${root}
myhostname = relay.matrix.example.com
mydomain = matrix.example.com
myorigin = $mydomain
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
alias_maps =
alias_database =
local_recipient_maps =
biff = no
relayhost = [127.0.0.1]:${port}
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = texthash:${join(config, 'sasl_passwd')}
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
smtp_tls_security_level = encrypt
smtp_tls_wrappermode = ${opts.wrappermode ? 'yes' : 'no'}
smtp_tls_loglevel = 1
# Log the SMTP dialogue with the gateway (shows the AUTH mechanism and the replies).
debug_peer_list = 127.0.0.1
# Retry deferred mail quickly (the 451 test).
minimal_backoff_time = 2s
maximal_backoff_time = 4s
queue_run_delay = 2s
`,
  );
  writeFileSync(join(config, 'master.cf'), MASTER_CF);
  writeFileSync(join(config, 'sasl_passwd'), `[127.0.0.1]:${port} ${DEMO_USER}:${DEMO_PASSWORD}\n`, { mode: 0o600 });
  const readLog = () => (existsSync(maillog) ? readFileSync(maillog, 'utf8') : '');
  try {
    await run(POSTFIX, ['-c', config, 'start'], { timeout: 20_000 });
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`postfix start failed: ${(err as Error).message}\n${readLog()}`, { cause: err });
  }
  return {
    config,
    maillog: readLog,
    stop: async () => {
      await run(POSTFIX, ['-c', config, 'stop'], { timeout: 20_000 }).catch(() => {});
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function userInfoOf(name: string): { uid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no user ${name} (is postfix installed?)`);
  return { uid: Number(line.split(':')[2]) };
}

async function submit(pf: Instance, messageId: string) {
  const res = await runWithInput(
    SENDMAIL,
    ['-C', pf.config, '-f', FROM_ADDRESS, '-t'],
    rawMessage({ bccHeader: true, messageId }),
    { timeoutMs: 15_000 },
  );
  assert.equal(res.code, 0, `sendmail failed: ${res.stderr}\n${pf.maillog()}`);
}

const SENT = /status=sent \(250 2\.0\.0 Ok: queued as /g;

/**
 * Postfix's log once `done` holds for it, or as it is after 15 s. The sandbox holds an email
 * before the gateway answers the DATA that carried it, and postlogd writes its file after that:
 * reading the log the moment the emails arrive can miss the "sent" lines.
 */
const logWhen = (pf: Instance, done: (log: string) => boolean): Promise<string> => settled(pf.maillog, done, 15_000);

/** The SMTP lines Postfix logged for its sessions with the gateway (debug_peer_list). */
function dialogue(log: string): string[] {
  return log.split('\n').flatMap((l) => {
    const m = /postfix\/smtp\[\d+\]: ([<>]) 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: (.*)$/.exec(l);
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
}

async function withGateway(env: Record<string, string>, fn: (gw: Gateway) => Promise<void>) {
  const gw = await startTestGateway(env);
  try {
    await clearSandbox(gw);
    await fn(gw);
  } finally {
    await gw.shutdown();
  }
}

for (const mode of ['starttls', 'smtps'] as const) {
  const label =
    mode === 'starttls' ? 'STARTTLS (smtp_tls_security_level = encrypt)' : 'implicit TLS (smtp_tls_wrappermode = yes)';
  test(`Postfix relay client over ${label}`, { skip, timeout: 60_000 }, () =>
    withGateway({}, async (gw) => {
      const pf = await startPostfix(mode === 'starttls' ? gw.ports.submission : gw.ports.smtps, {
        wrappermode: mode === 'smtps',
      });
      try {
        await submit(pf, `<postfix-${mode}-${Date.now()}@example.com>`);
        const emails = await waitForEmails(gw, RECIPIENTS.length, 30_000);
        assert.equal(
          emails.length,
          RECIPIENTS.length,
          `the sandbox got ${emails.length} emails in 30 s; Postfix log:\n${pf.maillog()}`,
        );
        const log = await logWhen(pf, (l) => (l.match(SENT) ?? []).length >= RECIPIENTS.length);
        await assertMatrixPayloads(gw, { envelopeFrom: FROM_ADDRESS });
        const smtp = dialogue(log);
        assert.ok(
          smtp.some((l) => l.startsWith('> AUTH PLAIN ')),
          `Postfix (Cyrus SASL) authenticates with AUTH PLAIN and an initial response:\n${smtp.join('\n')}`,
        );
        assert.ok(smtp.includes(`> RCPT TO:<${BCC}>`), 'the Bcc header became an envelope recipient');
        assert.ok(!smtp.some((l) => /^> Bcc:/i.test(l)), 'Postfix removed the Bcc header');
        assert.match(log, /TLS connection established to 127\.0\.0\.1/);
        assert.equal(
          (log.match(SENT) ?? []).length,
          RECIPIENTS.length,
          `one "sent" per recipient; Postfix log:\n${log}`,
        );
      } finally {
        await pf.stop();
      }
    }),
  );
}

test(
  'Postfix relay client retries after a 451 and each recipient arrives exactly once',
  { skip, timeout: 90_000 },
  () =>
    // One API attempt per recipient, so the injected 503s reach the SMTP reply instead of being
    // absorbed by the gateway's own retries.
    withGateway({ API_MAX_ATTEMPTS: '1' }, async (gw) => {
      const pf = await startPostfix(gw.ports.submission, { wrappermode: false });
      try {
        await setFault(gw, { status: 503, count: 3 });
        await submit(pf, `<postfix-retry-${Date.now()}@example.com>`);
        const emails = await waitForEmails(gw, RECIPIENTS.length, 45_000);
        // Wait for Postfix to log every recipient sent, then let any duplicate show up before counting.
        await logWhen(pf, (l) => (l.match(/status=sent /g) ?? []).length >= RECIPIENTS.length);
        await new Promise((r) => setTimeout(r, 3000));
        const log = pf.maillog();
        assert.match(
          log,
          /status=deferred \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.4\.1 /,
          `Postfix got a 451 and deferred:\n${log}`,
        );
        assert.equal(emails.length, RECIPIENTS.length, `the sandbox got ${emails.length} emails; Postfix log:\n${log}`);
        const all = await sandboxEmails(gw);
        assert.deepEqual(all.map((e) => e.payload.email).sort(), [...RECIPIENTS].sort(), 'each recipient exactly once');
        await assertMatrixPayloads(gw, { envelopeFrom: FROM_ADDRESS });
        assert.equal(
          (log.match(/status=sent /g) ?? []).length,
          RECIPIENTS.length,
          'Postfix delivered every recipient once',
        );
      } finally {
        await pf.stop();
      }
    }),
);
