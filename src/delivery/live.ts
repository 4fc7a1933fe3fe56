// `--live`: what Cakemail says now about each recipient of a traced message
// (`GET /v2/emails/{id}`: delivered, bounce, …). Asking needs the login the message was sent
// with; the gateway keeps no password anywhere but in memory, so each process remembers the
// credentials of the messages it handled recently (bounded) and only that process can answer
// live for them. Another pod of a fleet says so instead of guessing.
import type { CakemailClient } from '../cakemail/client.ts';
import type { Credential } from '../cakemail/tokens.ts';
import type { LiveAnswer, LiveStatus, TraceRecord } from '../trace/record.ts';

export class LiveLookup {
  readonly #client: CakemailClient;
  readonly #max: number;
  readonly #credentials = new Map<string, Credential>();

  constructor(client: CakemailClient, max = 10_000) {
    this.#client = client;
    this.#max = max;
  }

  remember(traceId: string, credential: Credential | undefined): void {
    if (!credential) return;
    this.#credentials.delete(traceId);
    this.#credentials.set(traceId, credential);
    while (this.#credentials.size > this.#max) {
      const oldest = this.#credentials.keys().next();
      if (oldest.done) break;
      this.#credentials.delete(oldest.value);
    }
  }

  async lookup(record: TraceRecord, signal: AbortSignal): Promise<LiveAnswer> {
    const credential = this.#credentials.get(record.id);
    if (!credential)
      return {
        ok: false,
        reason:
          'this gateway process did not handle the message recently, so it holds no login to ask Cakemail with; ask the pod that did, or look the ids up in Cakemail',
      };
    const bearer = await credential.bearer(signal);
    if (!bearer.ok) return { ok: false, reason: `no Cakemail token for the login: ${bearer.error.message}` };
    const out: LiveStatus[] = [];
    for (const r of record.recipients) {
      if (!r.cakemailId || r.cakemailId.startsWith('unknown-')) continue;
      const res = await this.#client.getEmail(bearer.value, r.cakemailId, credential.accountId, signal);
      if (res.ok)
        out.push({
          address: r.address,
          cakemailId: r.cakemailId,
          status: res.value.status,
          ...(res.value.hard_bounced ? { hardBounced: true } : {}),
          ...(res.value.soft_bounced ? { softBounced: true } : {}),
        });
      else
        out.push({
          address: r.address,
          cakemailId: r.cakemailId,
          error: res.error.kind === 'http' ? `HTTP ${res.error.status}: ${res.error.message}` : res.error.message,
        });
    }
    return { ok: true, recipients: out };
  }
}
