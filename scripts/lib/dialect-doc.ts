// docs/message-mapping.md §3 from the dialect table (src/delivery/dialects/table.ts): one table
// per dialect, every header and every X-SMTPAPI key. scripts/dialects-doc.ts writes it into the
// page; test/unit/dialects-doc.test.ts fails when the page and the code disagree.
import { DIALECTS } from '../../src/delivery/dialects/table.ts';

export const BEGIN =
  '<!-- dialect-table:begin: generated from src/delivery/dialects/ by `node --import tsx scripts/dialects-doc.ts`; do not edit by hand -->';
export const END = '<!-- dialect-table:end -->';

const cell = (text: string): string => text.replace(/(?<!\\)\|/g, '\\|');

export function renderDialectTables(): string {
  const out: string[] = [];
  for (const d of DIALECTS) {
    out.push(`### ${d.name}`, '');
    out.push('| Header | Accepts | Honoured | Refused |', '|---|---|---|---|');
    for (const r of d.rules) {
      out.push(`| \`${r.header}\` | ${cell(r.accepts)} | ${cell(r.honoured)} | ${cell(r.refused)} |`);
      for (const p of r.parts ?? [])
        out.push(`| \`${r.header}\` \`${p.name}\` | ${cell(p.accepts)} | ${cell(p.honoured)} | ${cell(p.refused)} |`);
    }
    const spaces = d.namespaces.map((n) => `\`${n.replace(/-$/, '')}${n.endsWith('-') ? '-*' : '*'}\``).join(', ');
    out.push(
      '',
      `Any other header under ${spaces} is refused: \`<Header> header refused: unknown ${d.name} header, so what it asks for cannot be done\`.`,
      '',
    );
  }
  return out.join('\n');
}

/** The page with its generated block replaced; throws when the markers are missing. */
export function withDialectTables(page: string): string {
  const start = page.indexOf(BEGIN);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error('docs/message-mapping.md has no dialect-table markers');
  return `${page.slice(0, start + BEGIN.length)}\n\n${renderDialectTables()}\n${page.slice(end)}`;
}
