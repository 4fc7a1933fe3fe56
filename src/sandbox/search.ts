// The inbox search (`GET /_sandbox/emails?q=`, and the same box on the page): every word of the
// query must appear, case-insensitively, in one of the email's recipient, sender (id, name, the
// envelope sender the gateway forwards), subject, tags or text (the text body, else the HTML).
import type { StoredEmail } from './store.ts';

export function matches(email: StoredEmail, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const p = email.payload;
  const haystack = [
    p.email,
    p.sender.id,
    p.sender.name ?? '',
    ...(p.additional_headers ?? []).filter((h) => h.name === 'X-Sender-Envelope-From').map((h) => h.value),
    p.content.subject,
    ...(p.tags ?? []),
    p.content.text ?? p.content.html ?? '',
  ]
    .join('\n')
    .toLowerCase();
  return words.every((w) => haystack.includes(w));
}

export function search(emails: readonly StoredEmail[], query: string | null): StoredEmail[] {
  return query ? emails.filter((e) => matches(e, query)) : [...emails];
}
