// Fault injection (docs/architecture.md#the-sandbox, docs/threat-model.md#faults-in-front-of-the-api). A fault is parsed and validated here; the
// server applies the one `take()` returns. Several faults may be active: the first one whose
// paths match and whose dice roll hits is used for a request.

export const FAULT_MODES = [
  'respond',
  'reset_before_read',
  'reset_after_read',
  'hang_before_commit',
  'commit_then_hang',
  'commit_then_reset',
] as const;
export type FaultMode = (typeof FAULT_MODES)[number];

export interface Fault {
  mode: FaultMode;
  /** HTTP status to answer with (mode `respond` only); absent: answer normally after `latencyMs`. */
  status?: number;
  /** Probability 0..1 that a matching request is faulted. */
  rate: number;
  /** Faulted requests left before the fault expires; absent: until cleared. */
  count?: number;
  /** Exact request paths (no query string) the fault applies to. */
  paths: string[];
  latencyMs: number;
  retryAfter?: string;
  /** JSON body to answer with instead of the default `{detail: [...]}`. */
  body?: unknown;
}

const KEYS = new Set(['mode', 'status', 'rate', 'count', 'paths', 'latencyMs', 'retryAfter', 'body']);
const MAX_LATENCY_MS = 10 * 60 * 1000;

export type FaultParse = { ok: true; faults: Fault[] } | { ok: false; errors: string[] };

/** Accepts one fault object or an array of them; reports every problem. */
export function parseFaults(input: unknown): FaultParse {
  const items = Array.isArray(input) ? input : [input];
  const errors: string[] = [];
  const faults: Fault[] = [];
  if (items.length === 0) errors.push('at least one fault is required (use DELETE /_sandbox/faults to clear)');
  items.forEach((item, i) => {
    const where = Array.isArray(input) ? `[${i}].` : '';
    const fault = parseOne(item, where, errors);
    if (fault) faults.push(fault);
  });
  return errors.length ? { ok: false, errors } : { ok: true, faults };
}

function parseOne(v: unknown, where: string, errors: string[]): Fault | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    errors.push(`${where || 'fault'}: must be a JSON object`);
    return null;
  }
  const o = v as Record<string, unknown>;
  const start = errors.length;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) errors.push(`${where}${k}: unknown field`);

  const mode = o.mode ?? 'respond';
  if (typeof mode !== 'string' || !(FAULT_MODES as readonly string[]).includes(mode)) {
    errors.push(`${where}mode: must be one of ${FAULT_MODES.join(', ')}`);
  }
  const status = o.status;
  if (
    status !== undefined &&
    (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599)
  ) {
    errors.push(`${where}status: must be an integer 200..599`);
  }
  if (status !== undefined && mode !== 'respond') errors.push(`${where}status: only meaningful with mode "respond"`);
  const rate = o.rate ?? 1;
  if (typeof rate !== 'number' || !(rate > 0 && rate <= 1)) errors.push(`${where}rate: must be a number in (0, 1]`);
  const count = o.count;
  if (count !== undefined && (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1)) {
    errors.push(`${where}count: must be an integer >= 1`);
  }
  const paths = o.paths ?? ['/v2/emails'];
  if (
    !Array.isArray(paths) ||
    paths.length === 0 ||
    !paths.every((p) => typeof p === 'string' && p.startsWith('/') && !p.includes('?'))
  ) {
    errors.push(`${where}paths: must be a non-empty array of paths like "/v2/emails" (no query string)`);
  } else if (paths.some((p) => p.startsWith('/_sandbox'))) {
    errors.push(`${where}paths: /_sandbox paths cannot be faulted`);
  }
  const latencyMs = o.latencyMs ?? 0;
  if (typeof latencyMs !== 'number' || !Number.isInteger(latencyMs) || latencyMs < 0 || latencyMs > MAX_LATENCY_MS) {
    errors.push(`${where}latencyMs: must be an integer 0..${MAX_LATENCY_MS}`);
  }
  let retryAfter: string | undefined;
  if (o.retryAfter !== undefined) {
    if (typeof o.retryAfter === 'number' && Number.isInteger(o.retryAfter) && o.retryAfter >= 0)
      retryAfter = String(o.retryAfter);
    else if (
      typeof o.retryAfter === 'string' &&
      o.retryAfter.length > 0 &&
      o.retryAfter.length <= 100 &&
      /^[\x20-\x7e]+$/.test(o.retryAfter)
    )
      retryAfter = o.retryAfter;
    else errors.push(`${where}retryAfter: must be delay seconds or an HTTP-date (printable ASCII)`);
    if (status === undefined) errors.push(`${where}retryAfter: needs a status`);
  }
  if (o.body !== undefined && status === undefined) errors.push(`${where}body: needs a status`);
  if (mode === 'respond' && status === undefined && latencyMs === 0) {
    errors.push(`${where}: mode "respond" needs a status, a latencyMs, or both`);
  }
  if (errors.length > start) return null;

  const fault: Fault = {
    mode: mode as FaultMode,
    rate: rate as number,
    paths: paths as string[],
    latencyMs: latencyMs as number,
  };
  if (status !== undefined) fault.status = status as number;
  if (count !== undefined) fault.count = count as number;
  if (retryAfter !== undefined) fault.retryAfter = retryAfter;
  if (o.body !== undefined) fault.body = o.body;
  return fault;
}

export class FaultController {
  private faults: Fault[] = [];

  constructor(private readonly random: () => number = Math.random) {}

  /** Replaces the active faults. */
  set(faults: Fault[]): void {
    this.faults = faults.map((f) => ({ ...f, paths: [...f.paths] }));
  }

  clear(): void {
    this.faults = [];
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f, paths: [...f.paths] }));
  }

  /** The fault to apply to this request, if any; consumes one unit of its `count`. */
  take(path: string): Fault | null {
    for (const fault of this.faults) {
      if (!fault.paths.includes(path)) continue;
      if (fault.rate < 1 && this.random() >= fault.rate) continue;
      if (fault.count !== undefined) {
        fault.count -= 1;
        if (fault.count <= 0) this.faults = this.faults.filter((f) => f !== fault);
      }
      return { ...fault };
    }
    return null;
  }
}

/** Default error body of an injected status: the API's `{detail: [...]}` family. */
export function faultBody(status: number, statusText: string): unknown {
  if (status < 400) return {};
  const type =
    statusText
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_|_$/g, '') || 'error';
  const item: Record<string, unknown> = { type, msg: `${statusText} (sandbox fault)` };
  if (status === 422) item.loc = ['body'];
  return { detail: [item] };
}
