// `smtp-gateway trace …` (docs/operations.md, "What happened to a message"): asks the running
// gateway's admin port (ADMIN_HOST, ADMIN_PORT, ADMIN_TOKEN of the same environment, or
// --admin-url) for a message's trace, or searches the last hour by recipient or Message-ID.
import type { Config } from '../config/schema.ts';
import { formatSearch, formatTrace } from './format.ts';
import type { TraceRecord } from './record.ts';

export const TRACE_HELP = `Usage: smtp-gateway trace <id> [--json] [--live]
       smtp-gateway trace --recipient <address> [--json]
       smtp-gateway trace --message-id <Message-ID> [--json]

  <id>          Any id a reply carried: the trace id of a 4xx/5xx ("(trace <id>)"), the id of
                a 250 (Cakemail's id, the gateway id of several recipients, the spool id)
  --live        Add Cakemail's current status of each recipient (GET /v2/emails/{id})
  --recipient   Messages of the last hour to this address
  --message-id  Messages of the last hour with this Message-ID
  --json        The trace as JSON
  --admin-url   The gateway's admin port (default http://ADMIN_HOST:ADMIN_PORT)

Needs ADMIN_TOKEN, the gateway's admin token, in the environment.
`;

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export async function traceCommand(config: Config, args: readonly string[], io: Output): Promise<number> {
  const opts = parseArgs(args);
  if (typeof opts === 'string') {
    io.err(`${opts}\n\n${TRACE_HELP}`);
    return 2;
  }
  if (opts.help) {
    io.out(TRACE_HELP);
    return 0;
  }
  const token = config.adminToken;
  if (!token) {
    io.err('ADMIN_TOKEN is not set: the trace endpoints of the admin port need it.\n');
    return 2;
  }
  const host = config.adminHost.includes(':') ? `[${config.adminHost}]` : config.adminHost;
  const base = (opts.adminUrl ?? `http://${host}:${config.adminPort}`).replace(/\/+$/, '');
  const path = opts.id
    ? `/messages/${encodeURIComponent(opts.id)}${opts.live ? '?live=1' : ''}`
    : `/messages?${opts.recipient ? `recipient=${encodeURIComponent(opts.recipient)}` : `message_id=${encodeURIComponent(opts.messageId!)}`}`;
  let res: Response;
  try {
    res = await fetch(base + path, {
      headers: { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(30_000),
    });
  } catch (err) {
    const cause = (err as Error).cause as Error | undefined;
    io.err(`Cannot reach the gateway's admin port at ${base}: ${cause?.message ?? (err as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    io.err(`Unexpected answer from ${base}${path}: HTTP ${res.status} ${text.slice(0, 200)}\n`);
    return 1;
  }
  if (!res.ok) {
    io.err(`${(body as { error?: string }).error ?? `HTTP ${res.status}`}\n`);
    return 1;
  }
  if (opts.json) io.out(JSON.stringify(body, null, 2) + '\n');
  else if (opts.id) io.out(formatTrace(body as Parameters<typeof formatTrace>[0]));
  else io.out(formatSearch((body as { messages: TraceRecord[] }).messages));
  return 0;
}

interface TraceArgs {
  help?: boolean;
  id?: string;
  recipient?: string;
  messageId?: string;
  json: boolean;
  live: boolean;
  adminUrl?: string;
}

function parseArgs(args: readonly string[]): TraceArgs | string {
  const o: TraceArgs = { json: false, live: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string | undefined => args[++i];
    if (a === '--help' || a === '-h') o.help = true;
    else if (a === '--json') o.json = true;
    else if (a === '--live') o.live = true;
    else if (a === '--recipient') {
      const v = value();
      if (!v) return '--recipient needs an address';
      o.recipient = v;
    } else if (a === '--message-id') {
      const v = value();
      if (!v) return '--message-id needs a Message-ID';
      o.messageId = v;
    } else if (a === '--admin-url') {
      const v = value();
      if (!v) return '--admin-url needs a URL';
      o.adminUrl = v;
    } else if (a.startsWith('--')) return `unknown option ${a}`;
    else if (o.id) return `one id at a time (got ${o.id} and ${a})`;
    else o.id = a;
  }
  if (o.help) return o;
  const given = [o.id, o.recipient, o.messageId].filter((x) => x !== undefined).length;
  if (given !== 1) return 'give one message id, or --recipient, or --message-id';
  if (o.live && !o.id) return '--live needs a message id';
  return o;
}
