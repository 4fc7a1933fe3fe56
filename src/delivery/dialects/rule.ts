// The shape of one row of the dialect table (table.ts): a header (or a family of headers), what
// values it accepts, what the gateway does with it, and when it is refused. The same row is the
// code that reads the header and the line of docs/message-mapping.md that documents it, so the
// page cannot say one thing while the code does another.
import type { Draft } from './draft.ts';
import { unsupported, type Problem } from './problem.ts';

export { invalid, unsupported, type Problem } from './problem.ts';

/** Reads one header into the draft; null when honoured. `name` is the header's name as written. */
export type Apply = (value: string, draft: Draft, name: string) => Problem | null;

export interface HeaderRule {
  /** As documented, e.g. `X-Mailgun-Tag`; a family ends in `*` (`X-PM-Metadata-*`). */
  header: string;
  /** What values it takes. */
  accepts: string;
  /** What the gateway does when it is honoured; "—" when it never is. */
  honoured: string;
  /** When it is refused and why; "—" when only an unreadable value is. */
  refused: string;
  apply: Apply;
  /** A JSON header's keys, each documented as a row of its own (`X-SMTPAPI`). */
  parts?: readonly { name: string; accepts: string; honoured: string; refused: string }[];
}

export interface Dialect {
  /** The relay an application migrates from. */
  name: string;
  /**
   * Name prefixes (matched ignoring case) that belong to this dialect: a header under one of them that no
   * rule names is refused (a misspelt or unknown request is never silently skipped).
   */
  namespaces: readonly string[];
  rules: readonly HeaderRule[];
}

/** A header the gateway can never carry out, whatever its value. */
export function refusedAlways(header: string, accepts: string, why: string): HeaderRule {
  return { header, accepts, honoured: '—', refused: `always: ${why}`, apply: () => unsupported(why) };
}
