// The load test's options: parsed from the command line, validated, every problem reported at
// once. A load test is a flood by design, so it refuses any target that is not this machine
// unless the operator says --allow-remote.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { SHAPES, type ShapeName } from './shapes.ts';

export type TlsMode = 'none' | 'starttls' | 'implicit';
export type AuthMode = 'none' | 'plain' | 'login';

export interface LoadOptions {
  host: string;
  port: number;
  tls: TlsMode;
  /** Accept self-signed and otherwise unverifiable certificates. */
  insecure: boolean;
  auth: AuthMode;
  user: string;
  pass: string;
  from: string;
  /** Recipient address pattern; `{n}` is replaced by the recipient index (0-based). */
  to: string;
  recipients: number;
  shape: ShapeName;
  concurrency: number;
  perConnection: number;
  /** Total messages; 0 = bounded by duration only. */
  messages: number;
  durationMs: number;
  /** The first part of the run, not in the latencies or msg/s (connections set up, code warmed); every reply still counted. */
  warmupMs: number;
  /** Messages per second across all connections; 0 = closed loop (each connection as fast as it is answered). */
  rate: number;
  timeoutMs: number;
  ehloName: string;
  allowRemote: boolean;
  progress: boolean;
  json: boolean;
}

export const LOADTEST_HELP = `smtp-gateway loadtest — drive any SMTP server with real SMTP and report what it answered

Usage: smtp-gateway loadtest [options]

Target
  --host H               SMTP server (default 127.0.0.1); non-loopback needs --allow-remote
  --port P               (default 2525)
  --tls MODE             none | starttls | implicit (default starttls)
  --insecure             accept self-signed certificates
  --auth MODE            none | plain | login (default plain)
  --user U --pass P      AUTH credentials (default demo@example.com / demo-password)
Load
  --shape S              ${Object.keys(SHAPES).join(' | ')} (default html20k)
  --from A               envelope and From: address (default demo@example.com)
  --to PATTERN           recipient address, {n} = index (default rcpt{n}@example.org)
  --recipients R         envelope recipients per message (default 1)
  --concurrency N        connections at once (default 10)
  --per-connection K     messages per connection before QUIT (default 100; 1 = one message per connection)
  --messages M           stop after M messages (default 1000; 0 = until --duration)
  --duration S           stop after S seconds (default 60)
  --warmup S             leave the first S seconds out of the latencies and msg/s (default 0);
                         their replies are still counted, rejections included
  --rate R               cap at R messages/s overall (default 0 = closed loop)
  --timeout-ms T         per-reply deadline (default 30000)
  --allow-remote         allow a target that is not a loopback address
  --no-progress          no progress line on stderr
  --json                 print only the JSON line
`;

const DEFAULTS: LoadOptions = {
  host: '127.0.0.1',
  port: 2525,
  tls: 'starttls',
  insecure: false,
  auth: 'plain',
  user: 'demo@example.com',
  pass: 'demo-password',
  from: 'demo@example.com',
  to: 'rcpt{n}@example.org',
  recipients: 1,
  shape: 'html20k',
  concurrency: 10,
  perConnection: 100,
  messages: 1000,
  durationMs: 60_000,
  warmupMs: 0,
  rate: 0,
  timeoutMs: 30_000,
  ehloName: 'loadtest.localhost',
  allowRemote: false,
  progress: true,
  json: false,
};

export type ParsedOptions = { ok: true; options: LoadOptions } | { ok: false; errors: string[] } | { ok: 'help' };

export function parseLoadOptions(argv: readonly string[], base: Partial<LoadOptions> = {}): ParsedOptions {
  const o: LoadOptions = { ...DEFAULTS, ...base };
  const errors: string[] = [];
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) errors.push(`--${name}: must be an integer >= ${min}`);
    return n;
  };
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) errors.push(`--${name}: must be a number >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const value = (): string | undefined => argv[++i];
    switch (flag) {
      case '--help':
      case '-h':
        return { ok: 'help' };
      case '--host':
        o.host = value() ?? '';
        break;
      case '--port':
        o.port = int('port', value(), 1);
        break;
      case '--tls': {
        const v = value();
        if (v === 'none' || v === 'starttls' || v === 'implicit') o.tls = v;
        else errors.push('--tls: must be none, starttls or implicit');
        break;
      }
      case '--insecure':
        o.insecure = true;
        break;
      case '--auth': {
        const v = value();
        if (v === 'none' || v === 'plain' || v === 'login') o.auth = v;
        else errors.push('--auth: must be none, plain or login');
        break;
      }
      case '--user':
        o.user = value() ?? '';
        break;
      case '--pass':
        o.pass = value() ?? '';
        break;
      case '--shape': {
        const v = value();
        if (v !== undefined && v in SHAPES) o.shape = v as ShapeName;
        else errors.push(`--shape: must be one of ${Object.keys(SHAPES).join(', ')}`);
        break;
      }
      case '--from':
        o.from = value() ?? '';
        break;
      case '--to':
        o.to = value() ?? '';
        break;
      case '--recipients':
        o.recipients = int('recipients', value(), 1);
        break;
      case '--concurrency':
        o.concurrency = int('concurrency', value(), 1);
        break;
      case '--per-connection':
        o.perConnection = int('per-connection', value(), 1);
        break;
      case '--messages':
        o.messages = int('messages', value(), 0);
        break;
      case '--duration':
        o.durationMs = num('duration', value(), 0.001) * 1000;
        break;
      case '--warmup':
        o.warmupMs = num('warmup', value(), 0) * 1000;
        break;
      case '--rate':
        o.rate = num('rate', value(), 0);
        break;
      case '--timeout-ms':
        o.timeoutMs = int('timeout-ms', value(), 1);
        break;
      case '--allow-remote':
        o.allowRemote = true;
        break;
      case '--no-progress':
        o.progress = false;
        break;
      case '--json':
        o.json = true;
        break;
      default:
        errors.push(`unknown option ${flag}`);
    }
  }
  if (!o.host) errors.push('--host: must not be empty');
  if (o.warmupMs >= o.durationMs) errors.push('--warmup: must be shorter than --duration');
  if (o.auth !== 'none' && (!o.user || !o.pass)) errors.push('--user and --pass are needed with --auth plain|login');
  if (!/^[^\s<>]+@[^\s<>]+$/.test(o.from)) errors.push('--from: must be an address like sender@example.com');
  if (!/^[^\s<>]+@[^\s<>]+$/.test(o.to.replaceAll('{n}', '0')))
    errors.push('--to: must be an address pattern like rcpt{n}@example.org');
  return errors.length ? { ok: false, errors } : { ok: true, options: o };
}

/** True when every address the host names is on this machine (127.0.0.0/8, ::1). */
export async function isLoopbackTarget(host: string): Promise<boolean> {
  const addrs = isIP(host) ? [host] : (await lookup(host, { all: true }).catch(() => [])).map((a) => a.address);
  return addrs.length > 0 && addrs.every(isLoopbackAddress);
}

export function isLoopbackAddress(address: string): boolean {
  if (isIP(address) === 4) return address.startsWith('127.');
  const a = address.toLowerCase();
  return a === '::1' || a === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(a);
}
