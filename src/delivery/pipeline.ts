// One DATA transaction, start to finish (docs/architecture.md#data-path): parse → inspect → sender →
// payload → per recipient: dedupe → send (retry, deadline) → outcome. Returns a typed
// MessageOutcome; the SMTP layer turns it into a reply through the one table.
import { randomUUID } from 'node:crypto';
import type { CakemailClient } from '../cakemail/client.ts';
import type { ApiResult } from '../cakemail/errors.ts';
import type { SenderDirectory } from '../cakemail/senders.ts';
import type { Credential } from '../cakemail/tokens.ts';
import type { SubmitEmail, SubmitEmailResponse } from '../cakemail/types.ts';
import type { Config } from '../config/schema.ts';
import type { MessageParser, ParseFailure } from '../mime/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { withRetry } from '../resilience/retry.ts';
import { isAccountDenied, recipientFailure, tempFailureOf } from './api-outcome.ts';
import { DedupeRecords } from './dedupe.ts';
import { inspectMessage } from './inspect.ts';
import { reduceRecipients, type MessageOutcome, type RecipientResult } from './outcome.ts';
import { buildMessage, forRecipient, type BuiltMessage, type PayloadPolicy } from './payload.ts';
import { uniqueIgnoringCase } from './text.ts';

export interface Transaction {
  sessionId: string;
  credential: Credential;
  envelopeFrom: string;
  recipients: readonly string[];
  raw: Uint8Array;
}

export interface PipelineDeps {
  config: Config;
  parser: MessageParser;
  senders: SenderDirectory;
  client: CakemailClient;
  dedupe: DedupeRecords;
  logger: Logger;
  metrics: Metrics;
}

export class DeliveryPipeline {
  readonly #d: PipelineDeps;
  readonly #policy: PayloadPolicy;

  constructor(deps: PipelineDeps) {
    this.#d = deps;
    const c = deps.config;
    this.#policy = {
      attachmentPolicy: c.attachmentPolicy,
      maxAttachmentBytes: c.maxAttachmentBytes,
      maxTotalAttachmentBytes: c.maxTotalAttachmentBytes,
      serverName: c.serverName,
      defaultEmailType: c.emailType,
      defaultListId: c.listId,
    };
  }

  async deliver(tx: Transaction): Promise<MessageOutcome> {
    const deadline = Date.now() + this.#d.config.messageDeadlineMs;
    const signal = AbortSignal.timeout(this.#d.config.messageDeadlineMs);
    const log = this.#d.logger.child({ session: tx.sessionId });

    const parsed = await this.#d.parser.parse(tx.raw);
    if (!parsed.ok) {
      this.#d.metrics.parseFailures.inc({ kind: parsed.failure.kind });
      return parseFailureOutcome(parsed.failure);
    }
    const inspected = inspectMessage(parsed.message);
    if (!inspected.ok) return { kind: 'refused', refusal: inspected.refusal };
    const { from, controls } = inspected;
    const credential = controls.accountId !== undefined ? tx.credential.forAccount(controls.accountId) : tx.credential;

    const lookup = controls.senderId !== undefined ? { kind: 'id' as const, id: controls.senderId } : { kind: 'email' as const, address: from.address };
    const found = await this.#d.senders.find(credential, lookup, signal);
    if (!found.ok) {
      // An account the sender chose in X-Account-Id and may not use is the sender's problem.
      if (controls.accountId !== undefined && isAccountDenied(found.error)) {
        return { kind: 'refused', refusal: { kind: 'content_invalid', reason: `X-Account-Id ${controls.accountId} is not an account this login may use` } };
      }
      return { kind: 'temp_failure', failure: tempFailureOf(found.error) };
    }
    if (!found.value) {
      const address = lookup.kind === 'id' ? `X-Sender-Id ${lookup.id}` : from.address;
      return { kind: 'refused', refusal: { kind: 'sender_not_allowed', address } };
    }
    const sender = from.name ? { id: String(found.value.id), name: from.name } : { id: String(found.value.id) };

    const built = buildMessage({ message: parsed.message, controls, sender, envelopeFrom: tx.envelopeFrom }, this.#policy);
    if (!built.ok) return { kind: 'refused', refusal: built.refusal };
    for (const d of built.built.dropped) {
      this.#d.metrics.attachmentsDropped.inc({ reason: d.kind });
      log.warn({ filename: d.filename, contentType: d.contentType, reason: d.reason }, 'attachment dropped by policy');
    }

    const gatewayId = randomUUID();
    const digest = DedupeRecords.digest(tx.raw);
    // Envelope duplicates are sent once (case-insensitive: no provider treats them apart).
    const recipients = uniqueIgnoringCase(tx.recipients);
    const results = await mapLimit(recipients, this.#d.config.sendConcurrency, (r) =>
      this.#sendOne(credential, built.built, r, digest, deadline, signal),
    );
    for (const r of results) {
      this.#d.metrics.recipients.inc({ result: r.status === 'queued' && r.duplicate ? 'duplicate' : r.status });
      // Like an MTA's to=<…> lines: the trace from a gateway id to each Cakemail id.
      if (r.status === 'queued') log.info({ gatewayId, to: r.recipient, cakemailId: r.id, duplicate: r.duplicate }, 'recipient queued');
      else if (r.status === 'refused') log.warn({ gatewayId, to: r.recipient, reason: r.reason, apiStatus: r.apiStatus }, 'recipient refused by Cakemail');
      else log.warn({ gatewayId, to: r.recipient, failure: r.failure }, 'recipient failed temporarily');
    }
    return reduceRecipients(results, gatewayId);
  }

  async #sendOne(credential: Credential, built: BuiltMessage, recipient: string, digest: string, deadline: number, signal: AbortSignal): Promise<RecipientResult> {
    const key = DedupeRecords.key(credential.accountKey, digest, recipient);
    const previous = await this.#d.dedupe.accepted(key);
    if (previous) return { recipient, status: 'queued', id: previous, duplicate: true };

    const payload = forRecipient(built, recipient);
    const retry = { attempts: this.#d.config.apiMaxAttempts, baseMs: this.#d.config.retryBaseMs, capMs: this.#d.config.retryCapMs };
    const res = await withRetry(() => this.#submit(credential, payload, signal), retry, deadline, signal);
    if (res.ok) {
      const { status, id } = res.value.data;
      if (status !== 'queued') return { recipient, status: 'refused', kind: 'api_rejected', reason: `Cakemail answered status "${status}"`, apiStatus: res.status };
      await this.#d.dedupe.remember(key, id);
      return { recipient, status: 'queued', id, duplicate: false };
    }
    // A 2xx whose body breaks the contract still means Cakemail took the message (docs/threat-model.md
    // F-19): answering 4xx would make the client send it again.
    if (res.error.kind === 'bad_response' && res.error.status >= 200 && res.error.status < 300) {
      const id = `unknown-${randomUUID()}`;
      this.#d.logger.error({ status: res.error.status, detail: res.error.message }, 'API accepted the email with a malformed body');
      await this.#d.dedupe.remember(key, id);
      return { recipient, status: 'queued', id, duplicate: false };
    }
    return recipientFailure(recipient, res.error);
  }

  /** One attempt; a 401 gets one token renewal and one more try (docs/architecture.md#outcomes-and-replies). */
  async #submit(credential: Credential, payload: SubmitEmail, signal: AbortSignal): Promise<ApiResult<SubmitEmailResponse>> {
    const bearer = await credential.bearer(signal);
    if (!bearer.ok) return bearer;
    const res = await this.#d.client.submitEmail(bearer.value, payload, credential.accountId, signal);
    if (res.ok || res.error.kind !== 'http' || res.error.status !== 401) return res;
    const renewed = await credential.renew(signal);
    if (!renewed.ok) return renewed;
    return this.#d.client.submitEmail(renewed.value, payload, credential.accountId, signal);
  }
}

function parseFailureOutcome(f: ParseFailure): MessageOutcome {
  switch (f.kind) {
    case 'limit':
    case 'malformed':
      return { kind: 'refused', refusal: { kind: 'content_invalid', reason: f.detail } };
    case 'timeout':
      return { kind: 'temp_failure', failure: { kind: 'parse_timeout', reason: f.detail } };
    case 'crashed':
      return { kind: 'temp_failure', failure: { kind: 'local_error', reason: f.detail } };
  }
}


async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  });
  await Promise.all(workers);
  return out;
}
