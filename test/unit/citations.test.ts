// The repository stands on its own: comments and docs cite files inside it. The design notes the
// project started from (design.md, threats.md, cakemail-api.md outside the repository) live on as
// docs/architecture.md, docs/threat-model.md and docs/cakemail-api.md.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', '.git', '.tmp', 'fixtures']);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (SKIP.has(e.name) || e.name === 'citations.test.ts') return [];
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : /\.(ts|js|md|py|php|rb|java|sh)$/.test(e.name) ? [p] : [];
  });
}

test('no comment or doc cites design.md, threats.md or a cakemail-api.md outside docs/', () => {
  // Allowed: `docs/cakemail-api.md`, and from inside docs/ a link `[…](cakemail-api.md)`.
  const outside = /(?<![\w\-/[(])(?:design|threats|cakemail-api)\.md\b/;
  const found: string[] = [];
  for (const f of [...files(join(ROOT, 'src')), ...files(join(ROOT, 'test')), ...files(join(ROOT, 'docs')), ...files(join(ROOT, 'scripts')), join(ROOT, 'README.md')]) {
    readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (outside.test(line)) found.push(`${f.slice(ROOT.length)}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(found, []);
});
