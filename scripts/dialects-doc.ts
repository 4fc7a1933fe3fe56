// Writes the per-dialect header tables of docs/message-mapping.md §3 from the code.
// Run: node --import tsx scripts/dialects-doc.ts          (rewrite the page)
//      node --import tsx scripts/dialects-doc.ts --check  (exit 1 when the page is out of date)
import { readFileSync, writeFileSync } from 'node:fs';
import { withDialectTables } from './lib/dialect-doc.ts';

const PAGE = new URL('../docs/message-mapping.md', import.meta.url);
const page = readFileSync(PAGE, 'utf8');
const next = withDialectTables(page);
if (process.argv.includes('--check')) {
  if (next !== page) {
    console.error('docs/message-mapping.md is out of date: run node --import tsx scripts/dialects-doc.ts');
    process.exit(1);
  }
} else if (next !== page) {
  writeFileSync(PAGE, next);
  console.log('docs/message-mapping.md updated');
}
