// The CLI's side of the admin port: a request to a running gateway that carries ADMIN_TOKEN from
// the environment itself, so an operator never pastes the token into a command line (or a shell
// history). Commands that read a running gateway's state go through here.
export interface AdminTarget {
  /** e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  token: string | undefined;
}

export interface AdminReply {
  status: number;
  body: unknown;
}

export async function adminCall(t: AdminTarget, path: string, method = 'GET'): Promise<AdminReply> {
  const res = await fetch(new URL(path, t.baseUrl), {
    method,
    headers: t.token === undefined ? {} : { authorization: `Bearer ${t.token}` },
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): shown as text.
  }
  return { status: res.status, body };
}
