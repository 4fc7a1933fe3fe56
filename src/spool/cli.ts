// `smtp-gateway spool …` (docs/operations.md#spool-mode): the spool of a running gateway, read and
// changed from another process with the same configuration (SPOOL_BACKEND, SPOOL_DIR, REDIS_URL).
// Changes are atomic on disk (journal appends, file removals), so the gateway keeps running.
import type { Config } from '../config/schema.ts';
import { remoteSpool, type SpoolOps } from './remote.ts';
import type { QuarantinedEntry, SpoolEntry } from './backend.ts';
import { dropDeadLetters } from './dead-letters.ts';
import { openSpoolBackend } from './open.ts';

export const SPOOL_HELP = `Usage: smtp-gateway spool <command>

  list [--dead] [--json]    Spooled messages (--dead: dead letters only), oldest first
  list --quarantined [--json]
                            Messages taken out of delivery as damaged (truncated, altered,
                            unreadable): why, when, and where their bytes are kept
  show <id>                 One message: envelope, each recipient, every attempt and the API's answer
  retry <id> | --all-dead   Make a message (or every dead letter) due now; its age starts again
  drop <id> | --all-dead    Remove a message (or every dead letter) from the spool for good

Reads the spool of the gateway configured by the same environment (SPOOL_BACKEND, SPOOL_DIR,
REDIS_URL, REDIS_KEY_PREFIX).

  --admin[=URL]             Go through a running gateway's admin port instead (default URL:
                            http://ADMIN_HOST:ADMIN_PORT); sends ADMIN_TOKEN from the environment.
`;

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export async function spoolCommand(config: Config, args: readonly string[], io: Output): Promise<number> {
  const [sub, ...rest] = args;
  if (!sub || sub === '--help' || sub === '-h') {
    io.out(SPOOL_HELP);
    return sub ? 0 : 2;
  }
  if (!['list', 'show', 'retry', 'drop'].includes(sub)) {
    io.err(`Unknown spool command '${sub}'.\n\n${SPOOL_HELP}`);
    return 2;
  }
  const admin = args.find((a) => a === '--admin' || a.startsWith('--admin='));
  const backend: SpoolOps = admin
    ? remoteSpool({ baseUrl: adminUrl(config, admin), token: config.adminToken })
    : (
        await openSpoolBackend(config, false, {
          // This command found it damaged first: said here, counted by the gateway's quarantine gauge.
          quarantined: (q) =>
            io.err(
              `spool message ${q.id} is damaged (${q.reason}): ${q.moved ? 'moved to quarantine' : `left in place (${q.error})`}\n`,
            ),
        })
      ).backend;
  try {
    return await run(
      backend,
      sub,
      rest.filter((a) => a !== admin),
      io,
    );
  } catch (err) {
    if (!admin) throw err;
    // The gateway's own words (401, 403 naming ADMIN_TOKEN) or why it could not be reached.
    const e = err as Error;
    io.err(`${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}\n`);
    return 1;
  } finally {
    await backend.close();
  }
}

async function run(b: SpoolOps, sub: string, args: readonly string[], io: Output): Promise<number> {
  const flags = new Set(args.filter((a) => a.startsWith('--')));
  const [id] = args.filter((a) => !a.startsWith('--'));
  switch (sub) {
    case 'list': {
      const unknown = [...flags].filter((f) => f !== '--dead' && f !== '--json' && f !== '--quarantined');
      if (unknown.length > 0) return usage(io, `unknown option ${unknown.join(', ')}`);
      if (flags.has('--quarantined')) {
        if (flags.has('--dead')) return usage(io, 'spool list takes --dead or --quarantined, not both');
        const q = await b.quarantined();
        io.out(flags.has('--json') ? JSON.stringify(q, null, 2) + '\n' : quarantineTable(q));
        return 0;
      }
      const entries = await b.list(flags.has('--dead') ? { dead: true } : {});
      if (flags.has('--json')) io.out(JSON.stringify(entries.map(listed), null, 2) + '\n');
      else io.out(table(entries));
      return 0;
    }
    case 'show': {
      if (!id) return usage(io, 'spool show needs a message id');
      const entry = await b.get(id);
      if (!entry) {
        io.err(`No spooled message ${id}.\n`);
        return 1;
      }
      io.out(JSON.stringify(entry, null, 2) + '\n');
      return 0;
    }
    case 'retry': {
      if (flags.has('--all-dead') === Boolean(id))
        return usage(io, 'spool retry needs a message id or --all-dead (not both)');
      const ids = await b.retry(id ? { id } : { allDead: true });
      if (id && ids.length === 0) {
        io.err(`No spooled message ${id} to retry.\n`);
        return 1;
      }
      io.out(ids.length === 0 ? 'No dead letters to retry.\n' : ids.map((i) => `retried ${i}\n`).join(''));
      return 0;
    }
    case 'drop': {
      if (flags.has('--all-dead') === Boolean(id))
        return usage(io, 'spool drop needs a message id or --all-dead (not both)');
      if (!id) {
        const ids = await dropDeadLetters(b);
        io.out(ids.length === 0 ? 'No dead letters to drop.\n' : ids.map((i) => `dropped ${i}\n`).join(''));
        return 0;
      }
      if (!(await b.drop(id))) {
        io.err(`No spooled message ${id}.\n`);
        return 1;
      }
      io.out(`dropped ${id}\n`);
      return 0;
    }
  }
  return 2;
}

/** `--admin=URL`, or the configured admin port (a wildcard bind is reached on loopback). */
function adminUrl(config: Config, flag: string): string {
  if (flag.startsWith('--admin=')) return flag.slice('--admin='.length);
  const host = config.adminHost === '0.0.0.0' || config.adminHost === '::' ? '127.0.0.1' : config.adminHost;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.adminPort}`;
}

/** `list --json`: the entry without the attempt history (that is what `show` is for). */
function listed(e: SpoolEntry): unknown {
  return { ...e, recipients: e.recipients.map(({ history: _h, ...r }) => r) };
}

function table(entries: readonly SpoolEntry[]): string {
  if (entries.length === 0) return 'The spool is empty.\n';
  const rows = entries.map((e) => {
    const delivered = e.recipients.filter((r) => r.state === 'delivered').length;
    const lastError = e.recipients.map((r) => r.last_error).find((x) => x !== null) ?? '';
    return [
      e.id,
      e.state,
      e.received_at,
      e.envelope_from || '<>',
      `${delivered}/${e.recipients.length} delivered`,
      lastError,
    ];
  });
  const head = ['ID', 'STATE', 'RECEIVED', 'FROM', 'RECIPIENTS', 'LAST ERROR'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

function quarantineTable(entries: readonly QuarantinedEntry[]): string {
  if (entries.length === 0) return 'Nothing is in quarantine.\n';
  return entries
    .map(
      (q) =>
        `${q.id}  ${q.quarantined_at ?? '(time unknown)'}  ${q.bytes} bytes  ${q.location}\n  reason: ${q.reason}\n`,
    )
    .join('');
}

function usage(io: Output, problem: string): number {
  io.err(`${problem}.\n\n${SPOOL_HELP}`);
  return 2;
}
