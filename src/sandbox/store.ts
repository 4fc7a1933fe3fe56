// The emails the sandbox accepted, newest first, bounded: past `maxEmails` the oldest is
// forgotten, so a long load test cannot exhaust memory.
import type { SubmitEmail } from '../cakemail/types.ts';

export interface StoredEmail {
  id: string;
  receivedAt: string;
  accountId: number;
  payload: SubmitEmail;
  /** `not_sent_test_mode`: a gateway test-mode message (src/sandbox/test-mode.ts); the API never saw it. */
  status: 'queued' | 'not_sent_test_mode';
  /**
   * Set when the sandbox processed the email but its answer never reached the client: the
   * injected fault (`commit_then_hang`, `commit_then_reset`) or `client_gone` (the client gave
   * up during injected latency). Lets a fault ledger tell the ambiguous class apart.
   */
  answerLost?: string;
}

export class EmailStore {
  /** Oldest first internally (cheap append); reads reverse it. */
  private readonly items: StoredEmail[] = [];
  private readonly byId = new Map<string, StoredEmail>();

  constructor(private readonly max: number) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxEmails must be a positive integer, got ${max}`);
  }

  add(email: StoredEmail): void {
    this.items.push(email);
    this.byId.set(email.id, email);
    while (this.items.length > this.max) {
      const dropped = this.items.shift()!;
      this.byId.delete(dropped.id);
    }
  }

  /** Newest first. */
  list(): StoredEmail[] {
    return this.items.slice().reverse();
  }

  get(id: string): StoredEmail | undefined {
    return this.byId.get(id);
  }

  /** True when the email was there. */
  delete(id: string): boolean {
    if (!this.byId.delete(id)) return false;
    this.items.splice(
      this.items.findIndex((e) => e.id === id),
      1,
    );
    return true;
  }

  clear(): void {
    this.items.length = 0;
    this.byId.clear();
  }
}
