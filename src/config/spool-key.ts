// The format of SPOOL_KEY, checked when the configuration loads (a bad key must stop the start,
// not the first spooled message) and again by the spool when it reads a generated key file.

/** SPOOL_KEY as configured: 64 hex digits or base64 of 32 bytes. */
export function parseSpoolKey(text: string): Buffer | null {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (b.length === 32) return b;
  }
  return null;
}
