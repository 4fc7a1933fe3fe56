// The keys a gateway seals and opens spooled logins with (docs/security.md#spool-mode-what-changes):
// SPOOL_KEY (or the generated SPOOL_DIR/spool.key) seals every new message; SPOOL_KEY_PREVIOUS,
// during a rotation, still opens the messages sealed before it. Each sealed login names the
// fingerprint of its key, so a login that does not open says which key it needs.
import { keyFingerprint, sealedKeyId, sealLogin, unsealLogin, type SpoolLogin } from './seal.ts';

export type Unsealed = { ok: true; login: SpoolLogin } | { ok: false; reason: string };

export class SpoolKeyring {
  readonly current: Buffer;
  readonly currentId: string;
  readonly previous: Buffer | null;
  readonly previousId: string | null;
  /** Where the current key comes from, for messages: `SPOOL_KEY` or the key file's path. */
  readonly source: string;

  constructor(current: Buffer, source: string, previous: Buffer | null = null) {
    this.current = current;
    this.currentId = keyFingerprint(current);
    this.previous = previous;
    this.previousId = previous ? keyFingerprint(previous) : null;
    this.source = source;
  }

  /** Fingerprints this gateway can open. */
  get readable(): string[] {
    return this.previousId ? [this.currentId, this.previousId] : [this.currentId];
  }

  seal(spoolId: string, login: SpoolLogin): string {
    return sealLogin(this.current, spoolId, login);
  }

  unseal(spoolId: string, sealed: string): Unsealed {
    const keyId = sealedKeyId(sealed);
    const keys = [this.current, ...(this.previous ? [this.previous] : [])].filter(
      (k) => keyId === null || keyFingerprint(k) === keyId,
    );
    for (const k of keys) {
      const login = unsealLogin(k, spoolId, sealed);
      if (login) return { ok: true, login };
    }
    const have = `${this.source} is ${this.currentId}${this.previousId ? `, SPOOL_KEY_PREVIOUS ${this.previousId}` : ''}`;
    if (keyId !== null && !this.readable.includes(keyId))
      return {
        ok: false,
        reason: `the stored SMTP login was sealed with the spool key fingerprint ${keyId}, which this gateway does not have (${have}): restore that key (or set it as SPOOL_KEY_PREVIOUS), then retry`,
      };
    return { ok: false, reason: `the stored SMTP login does not open with this gateway's keys (${have})` };
  }
}
