// Shared setup for the sandbox contract tests: a sandbox on a free port and small HTTP helpers.
import { after, before } from 'node:test';
import { DEMO_LIST_ID, DEMO_PASSWORD, DEMO_PAT, DEMO_SENDER_ID, DEMO_USERNAME } from '../../src/sandbox/seed.ts';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/server.ts';

/** Starts a sandbox for the current test file and closes it afterwards. */
export function useSandbox(opts: Partial<SandboxOptions> = {}): { readonly sb: Sandbox } {
  const holder: { sb?: Sandbox } = {};
  before(async () => {
    holder.sb = await startSandbox({ host: '127.0.0.1', port: 0, maxEmails: 100, ...opts });
  });
  after(async () => {
    await holder.sb?.close();
  });
  return {
    get sb(): Sandbox {
      if (!holder.sb) throw new Error('sandbox not started');
      return holder.sb;
    },
  };
}

export async function passwordToken(base: string, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: DEMO_USERNAME, password: DEMO_PASSWORD, ...extra }),
  });
}

export function validEmail(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    email: 'alice@example.org',
    list_id: DEMO_LIST_ID,
    sender: { id: DEMO_SENDER_ID, name: 'Demo' },
    content: { type: 'transactional', subject: 'Hello', html: '<p>Hi</p>', text: 'Hi', encoding: 'utf-8' },
    tags: ['receipt', 'smtp-gateway'],
    tracking: { opens: false, clicks_html: false, clicks_text: false },
    additional_headers: [{ name: 'Reply-To', value: 'support@example.com' }],
    attachment: [{ filename: 'receipt-1042.pdf', type: 'pdf', content: 'JVBERi0xLjQKJcfsj6IK' }],
    ...overrides,
  };
}

export function submit(
  base: string,
  body: unknown,
  init: { token?: string; query?: string; signal?: AbortSignal; contentType?: string } = {},
): Promise<Response> {
  return fetch(`${base}/v2/emails${init.query ?? ''}`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${init.token ?? DEMO_PAT}`,
      'Content-Type': init.contentType ?? 'application/json',
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(init.signal ? { signal: init.signal } : {}),
  });
}

export async function setFaults(base: string, fault: unknown): Promise<Response> {
  return fetch(`${base}/_sandbox/faults`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(fault),
  });
}

export interface Detail {
  loc?: (string | number)[];
  msg: string;
  type?: string;
  code?: number;
}

export async function details(res: Response): Promise<Detail[]> {
  const body = (await res.json()) as { detail: Detail[] };
  if (!Array.isArray(body.detail)) throw new Error(`detail is not an array: ${JSON.stringify(body)}`);
  return body.detail;
}

export function locs(items: Detail[]): string[] {
  return items.map((d) => JSON.stringify(d.loc));
}
