// The `smtp-gateway` binary as a user runs it: from the checkout (TypeScript sources through
// tsx) and from the build (compiled dist/, as in the container image, where tsx is absent), and
// the start-up errors an operator meets first: each names the setting and the fix, exits
// non-zero and shows no stack trace unless LOG_LEVEL=debug.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { DEMO_PASSWORD, DEMO_USER } from '../helpers/gateway.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHECKOUT_BIN = join(ROOT, 'bin/smtp-gateway.js');
/** Free ports only: never the defaults (the machine is shared). */
const FREE_PORTS = {
  SMTP_SUBMISSION_PORT: '0',
  SMTP_SMTPS_PORT: '0',
  SMTP_ALT_SUBMISSION_PORT: '0',
  ADMIN_PORT: '0',
  SANDBOX_PORT: '0',
};
const STACK_LINE = /^\s+at .+\(.*:\d+:\d+\)$|^\s+at .+:\d+:\d+$/m;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI to completion with only the given environment (plus PATH and HOME). */
async function cli(bin: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const r = await run(process.execPath, [bin, ...args], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number | null; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** A port held by another process, the way an operator's clash looks. */
async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, server };
}

function assertNamesSetting(r: Result, setting: string, what: RegExp): void {
  assert.notEqual(r.code, 0, 'exits non-zero');
  assert.match(r.stderr, what);
  assert.match(r.stderr, new RegExp(`setting: ${setting}\\n`));
  assert.match(r.stderr, /fix: {5}\S/);
  assert.doesNotMatch(r.stderr, STACK_LINE, 'no stack trace unless LOG_LEVEL=debug');
  assert.doesNotMatch(r.stdout, /SMTP connection error/);
}

/** Start `serve`, send one message with an attachment (parsed in a worker thread), SIGTERM → exit 0. */
async function serveOneMessage(bin: string): Promise<void> {
  const child: ChildProcess = spawn(process.execPath, [bin, 'serve'], {
    cwd: tmpdir(),
    env: { PATH: process.env.PATH ?? '', ...FREE_PORTS, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    let banner = '';
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner: ${banner}`)), 30_000);
      child.stderr!.on('data', (chunk: Buffer) => {
        banner += chunk.toString();
        const m = /SMTP submission \(STARTTLS\): 127\.0\.0\.1:(\d+)/.exec(banner);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', () => reject(new Error(`exited early: ${banner}`)));
    });
    const transport = nodemailer.createTransport({
      host: '127.0.0.1',
      port,
      secure: false,
      requireTLS: true,
      tls: { rejectUnauthorized: false },
      auth: { user: DEMO_USER, pass: DEMO_PASSWORD },
    });
    const info = await transport.sendMail({
      from: DEMO_USER,
      to: 'built@example.org',
      subject: 'through the CLI',
      text: 'parsed in a worker thread',
      attachments: [{ filename: 'a.csv', content: 'x,y\n' }],
    });
    transport.close();
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
}

describe('from the checkout (sources through tsx)', () => {
  test('--help prints the usage and exits 0', async () => {
    const r = await cli(CHECKOUT_BIN, ['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: smtp-gateway \[command\]$/m);
  });

  test('--help after a server command prints the usage and starts nothing (serve --help ran the gateway)', async () => {
    for (const args of [
      ['serve', '--help'],
      ['sandbox', '-h'],
      ['config', '--help'],
    ]) {
      // A server started by mistake never exits: the run times out instead of exiting 0.
      const r = await cli(CHECKOUT_BIN, args, FREE_PORTS);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^Usage: smtp-gateway \[command\]$/m, args.join(' '));
      assert.doesNotMatch(r.stderr, /running|sandbox:/i, args.join(' '));
    }
  });

  test('--version prints the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V', 'version']) {
      const r = await cli(CHECKOUT_BIN, [flag]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `smtp-gateway ${version}\n`);
    }
  });

  test('an argument a server command does not take is refused by name, exit 2 (it was ignored)', async () => {
    const r = await cli(CHECKOUT_BIN, ['serve', '--port', '25'], FREE_PORTS);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /'serve' takes no arguments \(got: --port 25\)/);
  });

  test('config prints the effective configuration with secrets redacted', async () => {
    const r = await cli(CHECKOUT_BIN, ['config'], { REDIS_URL: 'redis://user:hunter2@127.0.0.1:6379/0' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^SMTP_SUBMISSION_PORT=2525$/m);
    assert.doesNotMatch(r.stdout, /hunter2/);
  });

  test('serve: a message goes through the parse worker (TypeScript in the worker too); SIGTERM exits 0', () =>
    serveOneMessage(CHECKOUT_BIN));

  test('invalid configuration: every error listed, exit 2, no stack', async () => {
    const r = await cli(CHECKOUT_BIN, ['config'], { SMTP_SUBMISSION_PORT: 'x', MAX_RECIPIENTS: '0' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Invalid configuration \(2 errors\)/);
    assert.match(r.stderr, /SMTP_SUBMISSION_PORT="x"/);
    assert.doesNotMatch(r.stderr, STACK_LINE);
  });
});

describe('start-up errors name the setting and the fix', () => {
  test('submission port already in use → SMTP_SUBMISSION_PORT (not "SMTP connection error")', async () => {
    const held = await occupiedPort();
    try {
      const r = await cli(CHECKOUT_BIN, ['serve'], { ...FREE_PORTS, SMTP_SUBMISSION_PORT: String(held.port) });
      assertNamesSetting(
        r,
        'SMTP_SUBMISSION_PORT',
        new RegExp(`port ${held.port} on 127\\.0\\.0\\.1 is already in use`),
      );
    } finally {
      held.server.close();
    }
  });

  test('SMTPS, admin and sandbox ports in use → SMTP_SMTPS_PORT, ADMIN_PORT, SANDBOX_PORT', async () => {
    const held = await occupiedPort();
    try {
      const smtps = await cli(CHECKOUT_BIN, ['serve'], { ...FREE_PORTS, SMTP_SMTPS_PORT: String(held.port) });
      assertNamesSetting(smtps, 'SMTP_SMTPS_PORT', /already in use/);
      const admin = await cli(CHECKOUT_BIN, ['serve'], { ...FREE_PORTS, ADMIN_PORT: String(held.port) });
      assertNamesSetting(admin, 'ADMIN_PORT', /admin HTTP server: port \d+ .*already in use/);
      const sandbox = await cli(CHECKOUT_BIN, ['serve'], { ...FREE_PORTS, SANDBOX_PORT: String(held.port) });
      assertNamesSetting(sandbox, 'SANDBOX_PORT', /Cakemail API sandbox: port \d+ .*already in use/);
    } finally {
      held.server.close();
    }
  });

  test("a bind address that is not this machine's → SMTP_HOST", async () => {
    // 192.0.2.1 is TEST-NET-1 (RFC 5737): never a local address; binding sends no traffic.
    const r = await cli(CHECKOUT_BIN, ['serve'], { ...FREE_PORTS, SMTP_HOST: '192.0.2.1', SANDBOX_ENABLED: 'true' });
    assertNamesSetting(r, 'SMTP_HOST', /address 192\.0\.2\.1 is not an address of this machine/);
  });

  test('no CAKEMAIL_API_URL on a public SMTP_HOST → CAKEMAIL_API_URL: the sandbox and its demo login stay off public ports', async () => {
    // 192.0.2.1 again: the refusal comes before any bind, or this would name SMTP_HOST instead.
    const r = await cli(CHECKOUT_BIN, ['serve'], { ...FREE_PORTS, SMTP_HOST: '192.0.2.1' });
    assertNamesSetting(r, 'CAKEMAIL_API_URL', /SMTP_HOST=192\.0\.2\.1 is not a loopback address/);
    assert.match(r.stderr, /SANDBOX_ENABLED=true/);
    // The image's default bind address, without an API URL: refused the same way.
    const image = await cli(CHECKOUT_BIN, ['serve'], { ...FREE_PORTS, SMTP_HOST: '0.0.0.0' });
    assertNamesSetting(image, 'CAKEMAIL_API_URL', /SMTP_HOST=0\.0\.0\.0 is not a loopback address/);
  });

  test('missing certificate file → TLS_CERT_FILE; missing key → TLS_KEY_FILE; a directory → named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-tls-'));
    try {
      const cert = await cli(CHECKOUT_BIN, ['serve'], {
        ...FREE_PORTS,
        TLS_CERT_FILE: join(dir, 'tls.crt'),
        TLS_KEY_FILE: join(dir, 'tls.key'),
      });
      assertNamesSetting(cert, 'TLS_CERT_FILE', /TLS_CERT_FILE: file .*tls\.crt does not exist/);
      writeFileSync(join(dir, 'tls.crt'), 'not a certificate\n');
      const key = await cli(CHECKOUT_BIN, ['serve'], {
        ...FREE_PORTS,
        TLS_CERT_FILE: join(dir, 'tls.crt'),
        TLS_KEY_FILE: join(dir, 'tls.key'),
      });
      assertNamesSetting(key, 'TLS_KEY_FILE', /TLS_KEY_FILE: file .*tls\.key does not exist/);
      // A Secret mounted where a file was expected.
      const dirAsFile = await cli(CHECKOUT_BIN, ['serve'], {
        ...FREE_PORTS,
        TLS_CERT_FILE: dir,
        TLS_KEY_FILE: join(dir, 'tls.crt'),
      });
      assertNamesSetting(dirAsFile, 'TLS_CERT_FILE', /TLS_CERT_FILE: .* is a directory/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('files that are not a certificate and key → named, with what they must hold', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-tls-'));
    try {
      writeFileSync(join(dir, 'tls.crt'), 'not a certificate\n');
      writeFileSync(join(dir, 'tls.key'), 'not a key\n');
      const r = await cli(CHECKOUT_BIN, ['serve'], {
        ...FREE_PORTS,
        TLS_CERT_FILE: join(dir, 'tls.crt'),
        TLS_KEY_FILE: join(dir, 'tls.key'),
      });
      assertNamesSetting(r, 'TLS_CERT_FILE', /are not a PEM certificate chain and its private key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('LOG_LEVEL=debug adds the stack trace', async () => {
    const r = await cli(CHECKOUT_BIN, ['serve'], {
      ...FREE_PORTS,
      SMTP_HOST: '192.0.2.1',
      SANDBOX_ENABLED: 'true',
      LOG_LEVEL: 'debug',
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /setting: SMTP_HOST/);
    assert.match(r.stderr, STACK_LINE);
  });
});

describe('from the build (compiled dist/, no TypeScript sources, as installed or in the image)', () => {
  let dir = '';
  let bin = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cli-build-'));
    mkdirSync(join(dir, 'bin'));
    cpSync(CHECKOUT_BIN, join(dir, 'bin/smtp-gateway.js'));
    cpSync(join(ROOT, 'package.json'), join(dir, 'package.json'));
    cpSync(join(ROOT, 'package-lock.json'), join(dir, 'package-lock.json'));
    // Production dependencies only, as in the image: proves dist/ needs neither tsx nor typescript.
    await run('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: dir,
      timeout: 300_000,
    });
    // The real build command, into the copy's dist/.
    await run(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(ROOT, 'tsconfig.build.json'),
        '--outDir',
        join(dir, 'dist'),
      ],
      { timeout: 300_000 },
    );
    bin = join(dir, 'bin/smtp-gateway.js');
    assert.equal(existsSync(join(dir, 'node_modules/tsx')), false, 'tsx is not a production dependency');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('--help and config run the compiled JavaScript', async () => {
    const help = await cli(bin, ['--help']);
    assert.equal(help.code, 0, help.stderr);
    const version = await cli(bin, ['--version']);
    assert.match(version.stdout, /^smtp-gateway \d+\.\d+\.\d+/, `--version from the build: ${version.stderr}`);
    assert.match(help.stdout, /^Usage: smtp-gateway \[command\]$/m);
    const config = await cli(bin, ['config']);
    assert.equal(config.code, 0, config.stderr);
    assert.match(config.stdout, /^CAKEMAIL_API_URL=\(unset\)$/m);
  });

  test('serve: a message goes through the compiled parse worker; SIGTERM exits 0', () => serveOneMessage(bin));
});
