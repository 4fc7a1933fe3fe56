// load → validate → freeze. Every invalid setting is reported at once, so an operator fixes a
// broken deployment in one round trip instead of one error per restart.
import { parseSpoolKey } from './spool-key.ts';
import { fields, type Config, type FieldName } from './schema.ts';

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

export function loadConfig(env: Readonly<Record<string, string | undefined>>): ConfigResult {
  const errors: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(fields) as [FieldName, (typeof fields)[FieldName]][]) {
    const raw = env[f.env] === '' ? undefined : env[f.env];
    const parsed = f.schema.safeParse(raw ?? ('default' in f ? f.default : undefined));
    if (parsed.success) {
      out[name] = parsed.data;
    } else {
      const shown = f.secret ? '<redacted>' : JSON.stringify(raw);
      errors.push(`${f.env}=${shown}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    }
  }
  if (errors.length === 0) {
    if (Boolean(out.tlsCertFile) !== Boolean(out.tlsKeyFile)) {
      errors.push('TLS_CERT_FILE and TLS_KEY_FILE must be set together');
    }
    if (out.submissionPort !== 0 && out.submissionPort === out.smtpsPort) {
      errors.push('SMTP_SUBMISSION_PORT and SMTP_SMTPS_PORT must differ');
    }
    if (
      out.altSubmissionPort !== 0 &&
      (out.altSubmissionPort === out.submissionPort || out.altSubmissionPort === out.smtpsPort)
    ) {
      errors.push('SMTP_ALT_SUBMISSION_PORT must differ from SMTP_SUBMISSION_PORT and SMTP_SMTPS_PORT (or be 0: off)');
    }
    if (out.startSandbox === false && out.apiUrl === undefined) {
      errors.push('SANDBOX_ENABLED=false needs CAKEMAIL_API_URL: there is no API to send to');
    }
    if ((out.workers as number) > 1 && (out.startSandbox === true || out.apiUrl === undefined)) {
      errors.push(
        'WORKERS > 1 needs CAKEMAIL_API_URL: the embedded sandbox lives in one process (run `smtp-gateway sandbox` on its own and point CAKEMAIL_API_URL at it)',
      );
    }
    if (out.deliveryMode === 'spool') {
      if (out.spoolBackend === 'redis' && out.redisUrl === undefined)
        errors.push('SPOOL_BACKEND=redis needs REDIS_URL: the spool lives in Redis Streams');
      if (out.spoolBackend === 'redis' && out.spoolKey === undefined)
        errors.push(
          'SPOOL_BACKEND=redis needs SPOOL_KEY (64 hex digits): every gateway of the fleet must open the logins the others sealed',
        );
      if (out.spoolBackend === 'dir' && (out.workers as number) > 1)
        errors.push(
          'DELIVERY_MODE=spool with SPOOL_BACKEND=dir needs WORKERS=1: one process owns a spool directory (use SPOOL_BACKEND=redis to share a spool)',
        );
      if ((out.spoolLeaseMs as number) <= (out.messageDeadlineMs as number))
        errors.push('SPOOL_LEASE_MS must exceed MESSAGE_DEADLINE_MS: a lease must outlast the delivery it covers');
      if ((out.spoolRetryBaseMs as number) > (out.spoolRetryCapMs as number))
        errors.push('SPOOL_RETRY_BASE_MS must not exceed SPOOL_RETRY_CAP_MS');
    }
    if (out.spoolKey !== undefined && parseSpoolKey(out.spoolKey as string) === null)
      errors.push('SPOOL_KEY=<redacted>: must be 64 hex digits or base64 of 32 bytes (e.g. `openssl rand -hex 32`)');
    if (out.spoolKeyPrevious !== undefined && parseSpoolKey(out.spoolKeyPrevious as string) === null)
      errors.push('SPOOL_KEY_PREVIOUS=<redacted>: must be 64 hex digits or base64 of 32 bytes, like SPOOL_KEY');
    if ((out.maxAttachmentBytes as number) > (out.maxTotalAttachmentBytes as number)) {
      errors.push('MAX_ATTACHMENT_BYTES must not exceed MAX_TOTAL_ATTACHMENT_BYTES');
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: Object.freeze(out) as Config };
}

/** Whether this configuration runs the embedded sandbox. */
export function sandboxEnabled(config: Config): boolean {
  return config.startSandbox ?? config.apiUrl === undefined;
}

/** The effective configuration as `ENV=value` lines, secrets redacted. */
export function describeConfig(config: Config): string[] {
  return (Object.entries(fields) as [FieldName, (typeof fields)[FieldName]][]).map(([name, f]) => {
    const value = config[name];
    const shown =
      value === undefined ? '(unset)' : 'secret' in f && f.secret ? redactUrl(String(value)) : String(value);
    return `${f.env}=${shown}`;
  });
}

/** The README configuration table. */
export function configMarkdown(): string {
  const rows = (Object.values(fields) as (typeof fields)[FieldName][]).map(
    (f) =>
      `| \`${f.env}\` | ${'default' in f && f.default !== undefined ? `\`${f.default}\`` : '(unset)'} | ${f.doc} |`,
  );
  return ['| Variable | Default | Meaning |', '|---|---|---|', ...rows].join('\n');
}

function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return '<redacted>';
  }
}
