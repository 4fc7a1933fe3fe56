// The message shapes a load test sends, built once per run: a constant body and a few header
// lines that change per message (Subject, Message-ID, Date), so every message is distinct (a
// gateway that deduplicates resends must see new messages) while the generator copies nothing
// per message but the header. Lines never start with '.', so no dot-stuffing is needed.

export const SHAPES = {
  /** ~1 KB plain text. */
  text1k: 'about 1 KB of plain text',
  /** ~20 KB multipart/alternative: text and HTML (the headline shape). */
  html20k: 'about 20 KB of HTML + text (multipart/alternative)',
  /** ~300 KB: HTML + text and a PDF attachment (multipart/mixed). */
  pdf300k: 'about 300 KB: HTML + text and a PDF attachment',
} as const;
export type ShapeName = keyof typeof SHAPES;

export interface Shape {
  name: ShapeName;
  /** Header lines that are the same for every message (CRLF-terminated). */
  fixedHeaders: string;
  /** Blank line, body and the final `CRLF.CRLF`. */
  body: Buffer;
}

const CRLF = '\r\n';

function lines(text: string): string {
  return text.split('\n').join(CRLF);
}

function paragraph(i: number): string {
  return `Paragraph ${i}: your order has shipped and will arrive within three business days. Track it any time from your account page.`;
}

function textPart(bytes: number): string {
  const out: string[] = ['Hello,', ''];
  let size = 0;
  for (let i = 1; size < bytes; i++) {
    const p = paragraph(i);
    out.push(p);
    size += p.length + 2;
  }
  out.push('', 'Thanks,', 'The Shop');
  return out.join('\n');
}

function htmlPart(bytes: number): string {
  const out: string[] = [
    '<!doctype html>',
    '<html><head><meta charset="utf-8"><title>Your order</title></head>',
    '<body style="font-family: sans-serif">',
  ];
  let size = 0;
  for (let i = 1; size < bytes; i++) {
    const p = `<p style="margin: 0 0 12px 0; color: #333">${paragraph(i)} <a href="https://shop.example.com/orders/${i}">Order ${i}</a></p>`;
    out.push(p);
    size += p.length + 2;
  }
  out.push('</body></html>');
  return out.join('\n');
}

/** A small, well-formed PDF padded with a comment stream to `bytes`, base64 at 76 columns. */
function pdfBase64(bytes: number): string {
  const head =
    '%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n';
  const tail = 'trailer << /Root 1 0 R >>\n%%EOF\n';
  const pad = Buffer.alloc(Math.max(0, bytes - head.length - tail.length));
  for (let i = 0; i < pad.length; i++) pad[i] = i % 64 === 63 ? 10 : 37 + (i % 80);
  const b64 = Buffer.concat([Buffer.from(head), pad, Buffer.from(tail)]).toString('base64');
  const out: string[] = [];
  for (let i = 0; i < b64.length; i += 76) out.push(b64.slice(i, i + 76));
  return out.join('\n');
}

export function buildShape(name: ShapeName, from: string, firstRecipient: string): Shape {
  const common = `From: "Load Test" <${from}>${CRLF}To: <${firstRecipient}>${CRLF}MIME-Version: 1.0${CRLF}`;
  let contentType: string;
  let body: string;
  switch (name) {
    case 'text1k':
      contentType = 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit';
      body = textPart(900);
      break;
    case 'html20k': {
      const b = 'alt-boundary-7f3a';
      contentType = `Content-Type: multipart/alternative; boundary="${b}"`;
      body = [
        `--${b}`,
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        textPart(6_000),
        `--${b}`,
        'Content-Type: text/html; charset=utf-8',
        'Content-Transfer-Encoding: 8bit',
        '',
        htmlPart(13_500),
        `--${b}--`,
        '',
      ].join('\n');
      break;
    }
    case 'pdf300k': {
      const mixed = 'mixed-boundary-91c2';
      const alt = 'alt-boundary-44d0';
      contentType = `Content-Type: multipart/mixed; boundary="${mixed}"`;
      body = [
        `--${mixed}`,
        `Content-Type: multipart/alternative; boundary="${alt}"`,
        '',
        `--${alt}`,
        'Content-Type: text/plain; charset=utf-8',
        '',
        textPart(2_000),
        `--${alt}`,
        'Content-Type: text/html; charset=utf-8',
        '',
        htmlPart(4_000),
        `--${alt}--`,
        `--${mixed}`,
        'Content-Type: application/pdf; name="invoice.pdf"',
        'Content-Disposition: attachment; filename="invoice.pdf"',
        'Content-Transfer-Encoding: base64',
        '',
        pdfBase64(215_000),
        `--${mixed}--`,
        '',
      ].join('\n');
      break;
    }
  }
  return {
    name,
    fixedHeaders: common + contentType + CRLF,
    body: Buffer.from(CRLF + lines(body) + CRLF + '.' + CRLF, 'utf8'),
  };
}

/** The header lines of message number `n` of a run: distinct per message. */
export function messageHeaders(shape: Shape, run: string, n: number, serverDate: string): string {
  return `${shape.fixedHeaders}Subject: Load test ${shape.name} #${n}${CRLF}Message-ID: <${run}.${n}@loadtest.localhost>${CRLF}Date: ${serverDate}${CRLF}`;
}
