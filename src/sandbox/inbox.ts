// The web inbox: what the sandbox received, as HTML. Every byte shown comes from an SMTP client
// and is attacker-controlled, so everything is escaped, the email's HTML is shown only inside an
// `<iframe sandbox>` (no scripts, opaque origin) and the pages carry a CSP with no script source
// and no network source at all. Styles are allowed inline so that the email preview (which
// inherits this CSP) looks like the email; remote images are deliberately blocked, so opening an
// email never pings a tracker.
import type { HttpResult } from './http.ts';
import {
  DEMO_ACCOUNT_ID,
  DEMO_LIST_ID,
  DEMO_PAT,
  DEMO_PASSWORD,
  DEMO_USERNAME,
  MFA_USERNAME,
  SEED_SENDERS,
} from './seed.ts';
import type { StoredEmail } from './store.ts';
import { isTestMessage } from './test-mode.ts';
import { search } from './search.ts';
import { attachmentsOf } from './validate.ts';

export const INBOX_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const PAGE_HEADERS: Record<string, string> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy': INBOX_CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
};

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Safe in element content and in quoted attribute values (srcdoc included). */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const CSS = `
:root { color-scheme: light dark; --fg:#1d2430; --muted:#5b6576; --bg:#f6f7f9; --card:#fff; --line:#dde1e7; --accent:#2057c9; }
@media (prefers-color-scheme: dark) { :root { --fg:#e6e9ee; --muted:#9aa4b2; --bg:#14171c; --card:#1c2027; --line:#2c323c; --accent:#7aa7ff; } }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
a { color:var(--accent); }
header { background:var(--card); border-bottom:1px solid var(--line); padding:12px 16px; }
header h1 { font-size:18px; margin:0 0 6px; }
header h1 a { color:inherit; text-decoration:none; }
.creds { display:flex; flex-wrap:wrap; gap:4px 18px; font-size:13px; color:var(--muted); }
.creds code { color:var(--fg); word-break:break-all; }
main { max-width:1100px; margin:0 auto; padding:16px; }
.empty { color:var(--muted); padding:32px 0; text-align:center; }
.search { display:flex; gap:8px; align-items:center; margin:0 0 12px; }
.search input { flex:1; min-width:0; font:inherit; padding:6px 10px; border:1px solid var(--line); border-radius:6px; background:var(--card); color:var(--fg); }
.search button { font:inherit; padding:6px 12px; border:1px solid var(--line); border-radius:6px; background:var(--card); color:var(--fg); }
.list { list-style:none; margin:0; padding:0; border:1px solid var(--line); border-radius:8px; background:var(--card); overflow:hidden; }
.list li + li { border-top:1px solid var(--line); }
.list a { display:grid; grid-template-columns: 11em 1fr 1fr 2fr auto; gap:4px 12px; padding:10px 14px; color:inherit; text-decoration:none; }
.list a:hover { background:var(--bg); }
.muted { color:var(--muted); font-size:13px; }
.subject { font-weight:600; overflow-wrap:anywhere; }
.cell { overflow-wrap:anywhere; min-width:0; }
.tag { display:inline-block; font-size:12px; border:1px solid var(--line); border-radius:10px; padding:0 7px; margin:1px 2px 1px 0; }
dl { display:grid; grid-template-columns: 11em 1fr; gap:6px 12px; margin:0 0 16px; }
dt { color:var(--muted); }
dd { margin:0; overflow-wrap:anywhere; min-width:0; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; margin:0 0 16px; }
section h2 { font-size:15px; margin:0 0 8px; }
iframe { width:100%; height:60vh; border:1px solid var(--line); border-radius:6px; background:#fff; }
pre { margin:0; white-space:pre-wrap; overflow-wrap:anywhere; font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; max-height:70vh; overflow:auto; }
h1.subject { font-size:20px; margin:0 0 12px; }
@media (max-width: 720px) {
  .list a { grid-template-columns: 1fr; }
  dl { grid-template-columns: 1fr; }
  dt { margin-top:6px; }
  iframe { height:70vh; }
}
`;

function page(title: string, body: string, status = 200): HttpResult {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1><a href="/">Cakemail API sandbox · inbox</a></h1>
<div class="creds">
<span>login <code>${escapeHtml(DEMO_USERNAME)}</code> / <code>${escapeHtml(DEMO_PASSWORD)}</code></span>
<span>PAT <code>${escapeHtml(DEMO_PAT)}</code></span>
<span>account <code>${DEMO_ACCOUNT_ID}</code> · list_id <code>${DEMO_LIST_ID}</code></span>
<span>senders <code>demo@example.com</code>, <code>noreply@example.com</code> (confirmed), <code>pending@example.com</code> (unconfirmed)</span>
<span>MFA login <code>${escapeHtml(MFA_USERNAME)}</code></span>
<span><a href="/_sandbox/emails">JSON</a> · <a href="/_sandbox/requests">request counters</a> · <a href="/_sandbox/faults">faults</a></span>
</div>
</header>
<main>
${body}
</main>
</body>
</html>
`;
  return { status, headers: PAGE_HEADERS, body: html };
}

/** Long base64 would make the page megabytes big; the raw JSON link has it in full. */
const SHOWN_BASE64_CHARS = 2048;

function abbreviateAttachments(this: unknown, key: string, value: unknown): unknown {
  if (
    key === 'content' &&
    typeof value === 'string' &&
    value.length > SHOWN_BASE64_CHARS &&
    this !== null &&
    typeof this === 'object' &&
    'filename' in this
  ) {
    return `${value.slice(0, SHOWN_BASE64_CHARS)}… (${value.length} characters in total; see the raw JSON)`;
  }
  return value;
}

function formatTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function senderLabel(email: StoredEmail): string {
  const known = SEED_SENDERS.find((s) => s.id === email.payload.sender.id);
  const name = email.payload.sender.name ?? known?.name ?? '';
  const address = known?.email ?? `sender ${email.payload.sender.id}`;
  return name ? `${name} <${address}>` : address;
}

function tags(email: StoredEmail): string {
  const marker = isTestMessage(email) ? '<span class="tag">test mode: not sent</span>' : '';
  return marker + (email.payload.tags ?? []).map((t) => `<span class="tag">${escapeHtml(t)}</span>`).join('');
}

const SEARCH_FORM = (q: string) =>
  `<form class="search" method="get" action="/" role="search"><input type="search" name="q" value="${escapeHtml(q)}" placeholder="Search recipient, sender, subject, tags, text" aria-label="Search"> <button type="submit">Search</button>${q ? ' <a href="/">clear</a>' : ''}</form>`;

export function renderInbox(all: StoredEmail[], query: string | null = null): HttpResult {
  const q = (query ?? '').trim();
  const emails = search(all, q);
  if (q && emails.length === 0) {
    return page('Sandbox inbox', `${SEARCH_FORM(q)}<p class="empty">No email matches “${escapeHtml(q)}”.</p>`);
  }
  if (emails.length === 0) {
    return page(
      'Sandbox inbox',
      `<p class="empty">No email received yet. Send one through the gateway, or <code>POST /v2/emails</code>.</p>`,
    );
  }
  const rows = emails
    .map((e) => {
      const count = attachmentsOf(e.payload).length;
      return `<li><a href="/emails/${escapeHtml(e.id)}">
<span class="cell muted">${escapeHtml(formatTime(e.receivedAt))}</span>
<span class="cell">${escapeHtml(e.payload.email)}</span>
<span class="cell muted">${escapeHtml(senderLabel(e))} · id ${escapeHtml(e.payload.sender.id)}</span>
<span class="cell"><span class="subject">${escapeHtml(e.payload.content.subject)}</span> ${tags(e)}</span>
<span class="cell muted">${count ? `📎 ${count}` : ''}</span>
</a></li>`;
    })
    .join('\n');
  return page(
    `Sandbox inbox (${emails.length})`,
    `${SEARCH_FORM(q)}<p class="muted">${emails.length} email(s)${q ? ` matching “${escapeHtml(q)}”` : ''}, newest first.</p>\n<ul class="list">\n${rows}\n</ul>`,
  );
}

export function renderEmail(email: StoredEmail | undefined): HttpResult {
  if (!email)
    return page('Not found', '<p class="empty">No such email (it may have been cleared or evicted).</p>', 404);
  const p = email.payload;
  const tracking = p.tracking
    ? Object.entries(p.tracking)
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')
    : '(defaults)';
  const headers =
    (p.additional_headers ?? [])
      .map((h) => `<div><code>${escapeHtml(h.name)}</code>: ${escapeHtml(h.value)}</div>`)
      .join('') || '(none)';
  const attachments = attachmentsOf(p);
  const attachmentList = attachments.length
    ? `<ul>${attachments
        .map((a, i) => {
          const size =
            Math.floor((a.content.length * 3) / 4) - (a.content.endsWith('==') ? 2 : a.content.endsWith('=') ? 1 : 0);
          return `<li><a href="/_sandbox/emails/${escapeHtml(email.id)}/attachments/${i}">${escapeHtml(a.filename)}</a> <span class="muted">${escapeHtml(a.type)}, ${size} bytes</span></li>`;
        })
        .join('')}</ul>`
    : '<p class="muted">(none)</p>';
  const html =
    p.content.html !== undefined
      ? `<section><h2>HTML</h2><iframe sandbox="" referrerpolicy="no-referrer" title="HTML part" srcdoc="${escapeHtml(p.content.html)}"></iframe><p class="muted">Scripts and remote images are blocked.</p></section>`
      : '';
  const text =
    p.content.text !== undefined ? `<section><h2>Text</h2><pre>${escapeHtml(p.content.text)}</pre></section>` : '';
  const body = `<h1 class="subject">${escapeHtml(p.content.subject)}</h1>
<section><dl>
<dt>Received</dt><dd>${escapeHtml(formatTime(email.receivedAt))}</dd>
<dt>Id</dt><dd><code>${escapeHtml(email.id)}</code> (${escapeHtml(email.status)})</dd>
<dt>Account</dt><dd>${escapeHtml(email.accountId)}</dd>
<dt>Recipient</dt><dd>${escapeHtml(p.email)}</dd>
<dt>Sender</dt><dd>${escapeHtml(senderLabel(email))} · id <code>${escapeHtml(p.sender.id)}</code></dd>
<dt>Type</dt><dd>${escapeHtml(p.content.type)}${p.content.encoding ? ` · ${escapeHtml(p.content.encoding)}` : ''}</dd>
<dt>List</dt><dd>${p.list_id === undefined ? '(none)' : escapeHtml(p.list_id)}</dd>
<dt>Tags</dt><dd>${tags(email) || '(none)'}</dd>
<dt>Tracking</dt><dd>${escapeHtml(tracking)}</dd>
<dt>Additional headers</dt><dd>${headers}</dd>
</dl></section>
${html}
${text}
<section><h2>Attachments</h2>${attachmentList}</section>
<section><h2>JSON received (<a href="/_sandbox/emails/${escapeHtml(email.id)}">raw</a>)</h2><pre>${escapeHtml(JSON.stringify(p, abbreviateAttachments, 2))}</pre></section>`;
  return page(p.content.subject, body);
}
