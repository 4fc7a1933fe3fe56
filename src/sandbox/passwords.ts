// The seed users' passwords as they are now: an operator (a test) can change or revoke one
// through /_sandbox/users/<username>/password, to check what the gateway does when a password
// changes at Cakemail. Whether Cakemail revokes refresh and access tokens on a password change is
// not documented, so that is a choice of the change (`revokeTokens`), off by default: the gateway
// must not depend on it.
import { SEED_USERS, type SeedUser } from './seed.ts';

export class Passwords {
  /** Username → its password now; null: revoked (no password works). Absent: the seed's. */
  readonly #changed = new Map<string, string | null>();

  /** The seed user these credentials log in as, or undefined. */
  check(username: string, password: string | null): SeedUser | undefined {
    const user = SEED_USERS.find((u) => u.username === username);
    if (!user || password === null) return undefined;
    const current = this.#changed.has(username) ? this.#changed.get(username) : user.password;
    return current !== null && current === password ? user : undefined;
  }

  /** False when there is no such user. `password` null revokes every password. */
  set(username: string, password: string | null): boolean {
    if (!SEED_USERS.some((u) => u.username === username)) return false;
    this.#changed.set(username, password);
    return true;
  }

  reset(): void {
    this.#changed.clear();
  }
}
