// The start-up check that the gateway can open what its spool holds (docs/operations.md#the-spool-key):
// every message is sealed with a key whose fingerprint it carries; a gateway that has neither that
// key (SPOOL_KEY, or SPOOL_DIR/spool.key) nor it as SPOOL_KEY_PREVIOUS would turn each of them into
// a dead letter, so it refuses to start instead, naming the key it needs.
import type { KeyIdCounts } from './backend.ts';
import type { SpoolKeyring } from './keyring.ts';

export type KeyCheck =
  /** `warnings`: said once at start (an override used, a key changed over an empty spool). */
  { ok: true; warnings: string[] } | { ok: false; problem: string; fix: string };

export function checkSpoolKey(
  counts: KeyIdCounts,
  meta: string | null,
  ring: SpoolKeyring,
  allowMismatch: boolean,
): KeyCheck {
  const foreign = [...counts.byKey].filter(([id]) => !ring.readable.includes(id));
  const warnings: string[] = [];
  if (foreign.length > 0) {
    const held = foreign.map(([id, n]) => `${n} sealed with key fingerprint ${id}`).join(', ');
    const have = `${ring.source} has fingerprint ${ring.currentId}${ring.previousId ? ` and SPOOL_KEY_PREVIOUS ${ring.previousId}` : ''}`;
    const problem = `the spool holds messages this gateway cannot open: ${held}; ${have}`;
    if (!allowMismatch)
      return {
        ok: false,
        problem,
        fix: `give the gateway the key with fingerprint ${foreign[0]![0]} as ${ring.source === 'SPOOL_KEY' ? 'SPOOL_KEY' : `SPOOL_KEY or in ${ring.source}`} (or, to rotate, as SPOOL_KEY_PREVIOUS beside the new SPOOL_KEY); SPOOL_ALLOW_KEY_MISMATCH=true starts anyway and makes those messages dead letters naming the key (docs/operations.md#the-spool-key)`,
      };
    warnings.push(
      `${problem}. Started anyway (SPOOL_ALLOW_KEY_MISMATCH=true): those messages become dead letters naming the key they need; restore it and run spool retry --all-dead`,
    );
  }
  if (counts.legacy > 0)
    warnings.push(
      `${counts.legacy} spooled messages were sealed before key fingerprints were kept and are not checked at start: a wrong key makes them dead letters`,
    );
  if (ring.previousId !== null && !counts.byKey.has(ring.previousId))
    warnings.push(`SPOOL_KEY_PREVIOUS (fingerprint ${ring.previousId}) opens no spooled message: it can be removed`);
  if (meta !== null && !ring.readable.includes(meta) && foreign.length === 0)
    warnings.push(
      `the spool key changed (fingerprint ${meta} → ${ring.currentId}, from ${ring.source}); no spooled message needs the old key`,
    );
  return { ok: true, warnings };
}
