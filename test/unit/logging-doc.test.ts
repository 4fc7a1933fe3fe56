// docs/logging.md lists every log event: a log call added in src/ without its line there fails
// here, so operators can search and alert on messages that are documented.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The message of each log call: the last string literal before the call's closing paren. */
function logMessages(code: string): string[] {
  const out: string[] = [];
  const call = /\.(?:trace|debug|info|warn|error|fatal)\(/g;
  for (const m of code.matchAll(call)) {
    const rest = code.slice(m.index + m[0].length);
    const end = rest.indexOf(');');
    const args = end === -1 ? rest : rest.slice(0, end + 1);
    // `)+`: a call inside a callback ends with its own paren and the caller's (`…'));`); `,?`: a
    // call formatted over several lines ends with a trailing comma.
    const literals = [...args.matchAll(/'((?:[^'\\]|\\.)+)'\s*,?\s*\)+$/gm)];
    const last = literals.at(-1);
    if (last) out.push(last[1]!);
  }
  return out;
}

test('every log message in src/ is listed in docs/logging.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/logging.md'), 'utf8');
  const found = sources(join(ROOT, 'src')).flatMap((f) =>
    logMessages(readFileSync(f, 'utf8')).map((msg) => ({ file: f.slice(ROOT.length), msg })),
  );
  assert.ok(found.length >= 20, `found ${found.length} log calls; the extraction is broken`);
  const missing = found.filter(({ msg }) => !doc.includes(`\`${msg}\``));
  assert.deepEqual(missing, [], 'log events missing from docs/logging.md');
});
