// The admin port as an operator uses it: with the admin token (src/http/admin-auth.ts).
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';

/** A request to the admin port with `Authorization: Bearer <TEST_ADMIN_TOKEN>`; the body parsed as JSON. */
export async function adminRequest(
  port: number,
  path: string,
  method = 'GET',
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...headers },
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}
