// The hostile MIME shapes of docs/security.md (nesting, breadth, hidden parts, huge headers,
// address floods), shared by scripts/bench-mime.ts and scripts/storm-mime.ts. Each is a complete
// message as a binary string, From `from`.

export function hostileShapes(from: string, opts: { huge?: boolean } = { huge: true }): Record<string, string> {
  const head = `From: ${from}\r\nSubject: hostile\r\n`;
  const manyParts = (decl: string, boundary: string, n: number): string =>
    `${head}Content-Type: multipart/mixed; ${decl}\r\n\r\n` +
    `--${boundary}\r\n\r\nx\r\n`.repeat(n) +
    `--${boundary}--\r\n`;
  const longBoundary = 'L'.repeat(300);
  const wrap = (b64: string): string => b64.replace(/.{76}/g, '$&\r\n');
  const shapes: Record<string, string> = {
    'nesting depth 10,000': (() => {
      let b = 'Content-Type: text/plain\r\n\r\nx\r\n';
      for (let i = 10000; i > 0; i--)
        b = `Content-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\n${b}--b${i}--\r\n`;
      return head + b;
    })(),
    '100,000 parts': manyParts('boundary="p"', 'p', 100_000),
    '100,000 parts, RFC 2231 boundary': manyParts('boundary*0="pa"; boundary*1="rt"', 'part', 100_000),
    // 3,000 parts keep it near 1 MB, under the default SIZE limit, and still 3× the part limit.
    '3,000 parts, 300-char boundary': manyParts(`boundary="${longBoundary}"`, longBoundary, 3_000),
    '20,000 parts in base64 rfc822': `${head}Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n${wrap(Buffer.from(manyParts('boundary="q"', 'q', 20_000), 'latin1').toString('base64'))}\r\n`,
    'rfc822 chain 40,000': head + 'Content-Type: message/rfc822\r\n\r\n'.repeat(40_000) + 'Subject: x\r\n\r\nbody\r\n',
    '1 MB header line': head + `X-Long: ${'a'.repeat(1_000_000)}\r\n\r\nbody\r\n`,
    '8 MB header block': head + `X-Junk: ${'a'.repeat(990)}\r\n`.repeat(8000) + '\r\nbody\r\n',
    '100,000 header lines': head + 'X-A: b\r\n'.repeat(100_000) + '\r\nbody\r\n',
    '20,000 addresses in To': `${head}To: ${Array.from({ length: 20_000 }, (_, i) => `u${i}@example.com`).join(',\r\n ')}\r\n\r\nbody\r\n`,
    '5,000 nested groups': `${head}To: ${'g:'.repeat(5000)}x@y.z${';'.repeat(5000)}\r\n\r\nbody\r\n`,
    '50,000 encoded words in From': `From: ${'=?utf-8?q?a?= '.repeat(50_000)}<${from}>\r\nSubject: hostile\r\n\r\nbody\r\n`,
  };
  if (opts.huge) {
    shapes['20 MiB base64 attachment'] =
      `${head}Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n${wrap(Buffer.alloc(20 << 20, 1).toString('base64'))}\r\n--m--\r\n`;
  }
  return shapes;
}
