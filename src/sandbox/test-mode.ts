// Test mode in the inbox (docs/message-mapping.md §3): a message sent with X-Mailgun-Drop-Message,
// X-Sib-Sandbox or X-Cakemail-Test makes no API call, so the sandbox never receives it; the
// embedded sandbox is told instead, and keeps it beside the real ones with the status
// `not_sent_test_mode`, so a developer sees what their CI would have sent. It never appears in
// the API's activity log (logs.ts): Cakemail never saw it.
import type { SubmitEmail } from '../cakemail/types.ts';
import type { EmailStore } from './store.ts';

export interface TestMessage {
  /** The id the gateway's 250 gave. */
  id: string;
  /** The sub-account chosen for the message, if any (0 when the login's own). */
  accountId: number | undefined;
  /** The body the gateway would have sent for one recipient. */
  payload: SubmitEmail;
}

export function recordTestMessage(store: EmailStore, m: TestMessage): void {
  store.add({
    id: m.id,
    receivedAt: new Date().toISOString(),
    accountId: m.accountId ?? 0,
    payload: m.payload,
    status: 'not_sent_test_mode',
  });
}

export function isTestMessage(e: { status: string }): boolean {
  return e.status === 'not_sent_test_mode';
}
