// The sandbox's fixed world: one demo login, one MFA login, one personal access token, a list
// and enough senders that the gateway has to page through them. Everything here is documented
// in docs/sandbox.md and printed at start, so a newcomer can try the gateway at once.
import type { Sender } from '../cakemail/types.ts';

export const DEMO_ACCOUNT_ID = 1001;
export const DEMO_USERNAME = 'demo@example.com';
export const DEMO_PASSWORD = 'demo-password';

export const MFA_ACCOUNT_ID = 1002;
export const MFA_USERNAME = 'mfa@example.com';
export const MFA_PASSWORD = 'mfa-password';

/** Personal access token of the demo account: `ck_pat_` + 40 lowercase hex (docs/cakemail-api.md §2.6). */
export const DEMO_PAT = 'ck_pat_5a4d1c0e9b8f7a6d5c4b3a2918f7e6d5c4b3a291';

/** The only list that exists; any other `list_id` is answered 400 "List not found". */
export const DEMO_LIST_ID = 1;

export const DEMO_SENDER_ID = '90001';
export const NOREPLY_SENDER_ID = '90002';
export const PENDING_SENDER_ID = '90003';

/** How many `senderNN@example.net` filler senders exist (all confirmed). */
export const EXTRA_SENDER_COUNT = 60;

/** 2024-01-01T00:00:00Z: a fixed `confirmed_on`, so answers are reproducible. */
const CONFIRMED_ON = 1704067200;

export interface SeedUser {
  readonly id: number;
  readonly username: string;
  readonly password: string;
  readonly accounts: readonly number[];
  /** A user with MFA gets a `challenge` instead of tokens (docs/cakemail-api.md §2.3). */
  readonly mfa: boolean;
}

export const SEED_USERS: readonly SeedUser[] = Object.freeze([
  Object.freeze({
    id: 501,
    username: DEMO_USERNAME,
    password: DEMO_PASSWORD,
    accounts: Object.freeze([DEMO_ACCOUNT_ID]),
    mfa: false,
  }),
  Object.freeze({
    id: 502,
    username: MFA_USERNAME,
    password: MFA_PASSWORD,
    accounts: Object.freeze([MFA_ACCOUNT_ID]),
    mfa: true,
  }),
]);

export interface SeedPat {
  readonly token: string;
  readonly userId: number;
  readonly email: string;
  readonly accounts: readonly number[];
  readonly scopes: readonly string[];
}

export const SEED_PATS: readonly SeedPat[] = Object.freeze([
  Object.freeze({
    token: DEMO_PAT,
    userId: 501,
    email: DEMO_USERNAME,
    accounts: Object.freeze([DEMO_ACCOUNT_ID]),
    scopes: Object.freeze(['emailapi:send', 'senders:read', 'lists:read']),
  }),
]);

export interface SeedList {
  readonly id: number;
  readonly accountId: number;
  readonly name: string;
}

export const SEED_LISTS: readonly SeedList[] = Object.freeze([
  Object.freeze({ id: DEMO_LIST_ID, accountId: DEMO_ACCOUNT_ID, name: 'Demo list' }),
]);

/** `SenderFullResponse` (docs/cakemail-api.md §7.2): the shared `Sender` plus the confirmation timestamp. */
export type SenderFull = Sender & { last_confirmation_sent_on?: number };

function confirmed(id: string, name: string, email: string): SenderFull {
  return Object.freeze({ id, name, email, confirmed: true, confirmed_on: CONFIRMED_ON, language: 'en_US' });
}

function extra(n: number): SenderFull {
  const nn = String(n).padStart(2, '0');
  return confirmed(String(91000 + n), `Sender ${nn}`, `sender${nn}@example.net`);
}

/**
 * Senders of the demo account, in list order. The order is deliberate: `demo@` sits on page 1
 * and `noreply@` on page 2 at the default per_page=50, so a gateway that reads only the first
 * page fails to find `noreply@`.
 */
export const SEED_SENDERS: readonly SenderFull[] = Object.freeze([
  ...Array.from({ length: 30 }, (_, i) => extra(i + 1)),
  confirmed(DEMO_SENDER_ID, 'Demo Sender', DEMO_USERNAME),
  ...Array.from({ length: EXTRA_SENDER_COUNT - 30 }, (_, i) => extra(i + 31)),
  confirmed(NOREPLY_SENDER_ID, 'No Reply', 'noreply@example.com'),
  Object.freeze({
    id: PENDING_SENDER_ID,
    name: 'Pending',
    email: 'pending@example.com',
    confirmed: false,
    language: 'en_US',
    last_confirmation_sent_on: CONFIRMED_ON,
  }),
]);

/** Which account owns the seeded senders (all of them belong to the demo account). */
export const SENDERS_ACCOUNT_ID = DEMO_ACCOUNT_ID;

/** Recipients on this domain get `201` with `data.status: "rejected"` (not stored). */
export const REJECTED_DOMAIN = 'rejected.example';

/** Recipients on this domain are queued, then report `bounce` (hard-bounced) at `GET /v2/emails/{id}`. */
export const BOUNCE_DOMAIN = 'bounce.example';

/** The seeded values a newcomer needs, in one object (printed at start by main.ts). */
export const DEMO = Object.freeze({
  username: DEMO_USERNAME,
  password: DEMO_PASSWORD,
  accountId: DEMO_ACCOUNT_ID,
  listId: DEMO_LIST_ID,
  pat: DEMO_PAT,
  confirmedSenders: Object.freeze(['demo@example.com', 'noreply@example.com']),
  unconfirmedSender: 'pending@example.com',
  mfaUsername: MFA_USERNAME,
  mfaPassword: MFA_PASSWORD,
  rejectedDomain: REJECTED_DOMAIN,
  bounceDomain: BOUNCE_DOMAIN,
});
