// The fence around smtp-server (docs/architecture.md, "The SMTP edge: a fenced library"). This
// file fails on any smtp-server whose internals differ from what src/smtp/adapter.ts wraps: the
// members (checked on real objects), the library texts the adapter rewrites, and the bytes of
// the DATA stream, fed through the library's own parser in every chunking, as smtp-server's
// own stream tests do. Run it first after changing the smtp-server version.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { isStartupError } from '../../src/config/startup-error.ts';
import { EARLY_TALKER_SUFFIX, GatewaySmtpServer, LIBRARY_REWRITES, type EdgeOptions } from '../../src/smtp/adapter.ts';
import { readData } from '../../src/smtp/data.ts';
import {
  checkInternals,
  INTERNALS,
  specimensOf,
  VERIFIED_SMTP_SERVER,
  type Specimens,
} from '../../src/smtp/internals.ts';

const ROOT = join(import.meta.dirname, '../..');
const libraryDir = dirname(createRequire(import.meta.url).resolve('smtp-server/package.json'));

function freshSpecimens(): Specimens {
  return specimensOf(new SMTPServer({ logger: false }));
}

test('the installed smtp-server has every internal the adapter wraps, in the expected shape', () => {
  assert.deepEqual(checkInternals(freshSpecimens()), []);
});

test('smtp-server is pinned exactly to the release the fence was verified against', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const installed = JSON.parse(readFileSync(join(libraryDir, 'package.json'), 'utf8')) as { version: string };
  assert.equal(pkg.dependencies['smtp-server'], VERIFIED_SMTP_SERVER);
  assert.equal(installed.version, VERIFIED_SMTP_SERVER);
});

test('every library member the adapter touches is in the checked list, and nothing else is', () => {
  const adapter = readFileSync(join(ROOT, 'src/smtp/adapter.ts'), 'utf8');
  const used = (object: string) =>
    new Set([...adapter.matchAll(new RegExp(`\\b${object}\\.(\\w+)`, 'g'))].map((m) => m[1]));
  const listed = (owner: string) => new Set(INTERNALS.filter((i) => i.owner === owner).map((i) => i.member));
  for (const member of used('conn'))
    assert.ok(listed('connection').has(member as string), `conn.${member} is not checked`);
  for (const member of used('parser'))
    assert.ok(listed('parser').has(member as string), `parser.${member} is not checked`);

  // The types the adapter compiles against name exactly the checked members.
  const internals = readFileSync(join(ROOT, 'src/smtp/internals.ts'), 'utf8');
  const typed = (name: string) => {
    const body = new RegExp(`export interface ${name} \\{([\\s\\S]*?)\n\\}`).exec(internals)?.[1] ?? '';
    return new Set([...body.matchAll(/^\s+(?:readonly )?(\w+)[(:?]/gm)].map((m) => m[1]));
  };
  assert.deepEqual(typed('Connection'), listed('connection'));
  assert.deepEqual(typed('Parser'), listed('parser'));
  assert.deepEqual(typed('ServerInternals'), listed('server'));
});

test('a missing or reshaped member is reported by name, one problem for each', () => {
  for (const row of INTERNALS) {
    const specimens = freshSpecimens();
    const original = (specimens[row.owner] as Record<string, unknown>)[row.member];
    // An object that differs from the real one in this member only.
    const changed = Object.create(specimens[row.owner]) as Record<string, unknown>;
    // Gone, or a function of four parameters (no member the adapter uses takes four).
    const reshaped = (_a: unknown, _b: unknown, _c: unknown, _d: unknown) => original;
    for (const replacement of [undefined, reshaped]) {
      Object.defineProperty(changed, row.member, { value: replacement, configurable: true });
      const problems = checkInternals({ ...specimens, [row.owner]: changed });
      assert.equal(problems.length, 1, `${row.owner}.${row.member}: ${problems.join(' | ')}`);
      assert.ok(problems[0]?.startsWith(`${row.owner}.${row.member}: expected `), problems[0]);
    }
  }
});

test("a second 'connection' listener on the library's server is reported (our accept path would not be the only one)", () => {
  const specimens = freshSpecimens();
  (specimens.server as SMTPServer).server.on('connection', () => undefined);
  assert.deepEqual(checkInternals(specimens), [
    "server.server: expected the library's one 'connection' listener, found 2",
  ]);
});

test('a gateway SMTP server refuses to start on a library without a member it wraps, naming it', () => {
  const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;
  const saved = proto._armTimeout;
  delete proto._armTimeout;
  try {
    assert.throws(
      () => new GatewaySmtpServer({ logger: false }, {} as EdgeOptions),
      (err: unknown) =>
        isStartupError(err) &&
        err.message.includes('connection._armTimeout: expected a function of 0 parameters, found missing'),
    );
  } finally {
    proto._armTimeout = saved;
  }
});

test('the library replies the adapter rewrites are still worded as the rewrite table expects', () => {
  const source = ['smtp-connection.js', 'smtp-server.js']
    .map((f) => readFileSync(join(libraryDir, 'dist/esm', f), 'utf8'))
    .join('\n');
  for (const row of LIBRARY_REWRITES) {
    if (row.prefix === '') assert.match(source, new RegExp(`this\\.send\\(${row.code}, '`), `no ${row.code} reply`);
    else assert.ok(source.includes(`send(${row.code}, '${row.prefix}`), `no "${row.code} ${row.prefix}" reply`);
  }
  assert.ok(source.includes(`this.send(421, this.name + '${EARLY_TALKER_SUFFIX}'`));
});

// ---- The DATA stream, byte by byte ---------------------------------------------------------

interface Fed {
  data: Buffer;
  commands: string[];
  byteLength: number;
  sizeExceeded: boolean;
}

/** Feeds `chunks` to the library's parser in DATA mode, as the connection does. */
async function feed(chunks: Buffer[], maxBytes?: number): Promise<Fed> {
  const parser = new SMTPStream();
  const commands: string[] = [];
  parser.oncommand = (command, callback) => {
    commands.push(command.toString('latin1'));
    callback?.();
  };
  const stream = parser.startDataMode(maxBytes);
  const out: Buffer[] = [];
  stream.on('data', (c: Buffer) => out.push(c));
  const ended = once(stream, 'end');
  for (const c of chunks) parser.write(c);
  await ended;
  parser.continue();
  parser.end();
  await once(parser, 'finish');
  return { data: Buffer.concat(out), commands, byteLength: stream.byteLength, sizeExceeded: stream.sizeExceeded };
}

/** Every way of cutting `input` in two, and one byte at a time. */
function chunkings(input: string): Buffer[][] {
  const bytes = Buffer.from(input, 'latin1');
  const out: Buffer[][] = [[bytes]];
  for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push([...bytes].map((b) => Buffer.from([b])));
  return out;
}

async function assertEveryChunking(input: string, data: string, commands: string[] = []): Promise<void> {
  for (const chunks of chunkings(input)) {
    const fed = await feed(chunks);
    const how = chunks.map((c) => c.length).join('+');
    assert.equal(fed.data.toString('latin1'), data, `data, chunks ${how}`);
    assert.deepEqual(fed.commands, commands, `commands, chunks ${how}`);
    assert.equal(fed.byteLength, fed.data.length, `byteLength, chunks ${how}`);
  }
}

test('DATA stream: a dot-stuffed line loses one dot, and the CRLF before the terminator is content', async () => {
  await assertEveryChunking(
    'Subject: a\r\n\r\nline\r\n..dot\r\n...\r\n.\r\n',
    'Subject: a\r\n\r\nline\r\n.dot\r\n..\r\n',
  );
});

test('DATA stream: a terminator first is an empty message, and what follows it is commands', async () => {
  await assertEveryChunking('.\r\nQUIT\r\n', '', ['QUIT']);
});

test('DATA stream: a first line that is a stuffed single dot is content, in any segmentation', async () => {
  await assertEveryChunking('..\r\n.\r\n', '.\r\n');
});

test('DATA stream: only CRLF.CRLF ends DATA; bare-LF and mixed terminators stay in the message (smuggling)', async () => {
  const smuggled = [
    'a\n.\nMAIL FROM:<x@evil.example>\n',
    'a\r\n.\nRCPT TO:<y@evil.example>\r\n',
    'a\n.\r\nDATA\r\n',
    'a\r.\r\nRSET\r\n',
  ];
  for (const body of smuggled) await assertEveryChunking(`${body}end\r\n.\r\n`, `${body}end\r\n`);
});

test('DATA stream: commands pipelined after the terminator come out as commands, in order', async () => {
  await assertEveryChunking('x\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n', 'x\r\n', [
    'MAIL FROM:<a@b.example>',
    'RCPT TO:<c@d.example>',
    'DATA',
  ]);
});

test('DATA stream: NUL and a bare CR reach the gateway unchanged, which then refuses the NUL', async () => {
  await assertEveryChunking('a\u0000b\rc\r\n.\r\n', 'a\u0000b\rc\r\n');
  const parser = new SMTPStream();
  const stream = parser.startDataMode();
  const read = readData(stream, 1000);
  parser.write(Buffer.from('Subject: x\r\n\r\nb\u0000c\r\n.\r\n', 'latin1'));
  const r = await read;
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.refusal.kind, 'content_invalid');
});

test('DATA stream: byteLength counts unstuffed bytes and sizeExceeded marks one past the limit, in any segmentation', async () => {
  const body = '0123456789\r\n..ab\r\n'; // 17 bytes once unstuffed
  for (const chunks of chunkings(`${body}.\r\n`)) {
    const at = await feed(chunks, 17);
    assert.deepEqual([at.byteLength, at.sizeExceeded], [17, false]);
    const over = await feed(chunks, 16);
    assert.deepEqual([over.byteLength, over.sizeExceeded], [17, true]);
  }
});
