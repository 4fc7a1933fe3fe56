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
  for (const f of [
    ...files(join(ROOT, 'src')),
    ...files(join(ROOT, 'test')),
    ...files(join(ROOT, 'docs')),
    ...files(join(ROOT, 'scripts')),
    join(ROOT, 'README.md'),
  ]) {
    readFileSync(f, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (outside.test(line)) found.push(`${f.slice(ROOT.length)}:${i + 1}: ${line.trim()}`);
      });
  }
  assert.deepEqual(found, []);
});

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces → hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

test('every cited docs/<file>.md#anchor names a heading of that file', () => {
  const cite = /(?:docs\/|\]\()([\w-]+\.md)#([\w-]+)/g;
  const broken: string[] = [];
  const sources = [
    ...files(join(ROOT, 'src')),
    ...files(join(ROOT, 'test')),
    ...files(join(ROOT, 'docs')),
    join(ROOT, 'README.md'),
  ];
  for (const f of sources) {
    for (const m of readFileSync(f, 'utf8').matchAll(cite)) {
      const target = join(ROOT, 'docs', m[1]!);
      let headings: string[];
      try {
        headings = readFileSync(target, 'utf8')
          .split('\n')
          .filter((l) => /^#{1,6} /.test(l))
          .map((l) => anchor(l.replace(/^#+ /, '')));
      } catch {
        broken.push(`${f.slice(ROOT.length)}: docs/${m[1]} does not exist`);
        continue;
      }
      if (!headings.includes(m[2]!)) broken.push(`${f.slice(ROOT.length)}: docs/${m[1]}#${m[2]}`);
    }
  }
  assert.deepEqual(broken, []);
});
