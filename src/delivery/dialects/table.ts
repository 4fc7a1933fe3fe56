// The dialect table: every header of the relays applications migrate from, and Cakemail's own,
// each honoured (and how) or refused by name. docs/message-mapping.md §3 is generated from it
// (scripts/dialects-doc.ts); test/unit/dialects-doc.test.ts fails when the two disagree.
import { brevo } from './brevo.ts';
import { cakemail } from './cakemail.ts';
import { mailgun } from './mailgun.ts';
import { mandrill } from './mandrill.ts';
import { postmark } from './postmark.ts';
import type { Dialect, HeaderRule } from './rule.ts';
import { sendGrid } from './sendgrid.ts';
import { ses } from './ses.ts';

export const DIALECTS: readonly Dialect[] = [cakemail, sendGrid, mailgun, postmark, mandrill, ses, brevo];

export type Lookup =
  | { kind: 'rule'; rule: HeaderRule; dialect: Dialect }
  /** In a dialect's namespace, but no rule names it: refused. */
  | { kind: 'unknown'; dialect: Dialect }
  /** Not a dialect header at all. */
  | { kind: 'none' };

const EXACT = new Map<string, { rule: HeaderRule; dialect: Dialect }>();
const FAMILIES: { prefix: string; rule: HeaderRule; dialect: Dialect }[] = [];
for (const dialect of DIALECTS) {
  for (const rule of dialect.rules) {
    const lower = rule.header.toLowerCase();
    if (lower.endsWith('*')) FAMILIES.push({ prefix: lower.slice(0, -1), rule, dialect });
    else EXACT.set(lower, { rule, dialect });
  }
}

export function lookupHeader(lowerName: string): Lookup {
  const exact = EXACT.get(lowerName);
  if (exact) return { kind: 'rule', ...exact };
  const family = FAMILIES.find((f) => lowerName.startsWith(f.prefix) && lowerName.length > f.prefix.length);
  if (family) return { kind: 'rule', rule: family.rule, dialect: family.dialect };
  const owner = DIALECTS.find((d) => d.namespaces.some((p) => lowerName.startsWith(p.toLowerCase())));
  return owner ? { kind: 'unknown', dialect: owner } : { kind: 'none' };
}

/** A header the dialect table reads (or refuses): never forwarded as it is. */
export function isDialectHeader(lowerName: string): boolean {
  return lookupHeader(lowerName).kind !== 'none';
}
