// A trace as a person reads it (`smtp-gateway trace <id>`): the envelope, the reply, each
// recipient with every API attempt, the mapping decisions, the spool passes.
import type { LiveAnswer, TraceRecord } from './record.ts';

export function formatTrace(r: TraceRecord & { live?: LiveAnswer }): string {
  const out: string[] = [];
  out.push(`Trace ${r.id}${r.aliases.length ? ` (also ${r.aliases.join(', ')})` : ''}`);
  out.push(`  received   ${r.receivedAt} from ${r.client || '-'}, login ${r.login ?? '(none)'}, session ${r.session}`);
  out.push(`  envelope   MAIL FROM:<${r.envelope.from}>  RCPT TO: ${r.envelope.to.map((t) => `<${t}>`).join(' ')}`);
  out.push(
    `  size       ${r.size === null ? '(not received)' : `${r.size} bytes`}${r.messageId ? `, Message-ID <${r.messageId}>` : ''}`,
  );
  out.push(
    `  reply      ${r.reply ? `${r.reply.code} ${r.reply.enhanced} ${r.reply.text}  [${r.reply.outcome}]` : '(none yet)'}`,
  );
  out.push('', 'Recipients');
  for (const t of r.recipients) {
    const live = r.live?.ok
      ? r.live.recipients.find((l) => l.address.toLowerCase() === t.address.toLowerCase())
      : undefined;
    const now = live ? ('status' in live ? `  now: ${live.status}` : `  now: unknown (${live.error})`) : '';
    out.push(
      `  ${t.address}: ${t.result ?? 'not sent'}${t.cakemailId ? ` as ${t.cakemailId}` : ''}${t.reason ? ` (${t.reason})` : ''}${now}`,
    );
    for (const a of t.attempts)
      out.push(
        `    ${a.at}  ${a.kind === 'send' ? 'POST /v2/emails' : 'GET /v2/logs/emails (reconcile)'}  ${a.status ?? 'no answer'}  ${a.latencyMs} ms${a.error ? `  ${a.error}` : ''}${a.cakemailId ? `  id ${a.cakemailId}` : ''}`,
      );
  }
  if (r.live && !r.live.ok) out.push(`  (live status unavailable: ${r.live.reason})`);
  if (r.notes.length) {
    out.push('', 'Decisions');
    for (const n of r.notes) out.push(`  [${n.stage}] ${n.text}`);
  }
  if (r.spool) {
    out.push('', `Spool ${r.spool.id}`);
    if (r.spool.deliveries.length === 0) out.push('  no delivery attempt yet');
    for (const d of r.spool.deliveries) {
      out.push(`  ${d.at}  ${d.result}${d.nextAttemptAt ? `, next attempt ${d.nextAttemptAt}` : ''}`);
      for (const x of d.recipients)
        out.push(
          `    ${x.address}: ${x.state}${x.cakemailId ? ` as ${x.cakemailId}` : ''}${x.reason ? ` (${x.reason})` : ''}`,
        );
    }
  }
  return out.join('\n') + '\n';
}

/** One line per message for a search result. */
export function formatSearch(records: readonly TraceRecord[]): string {
  if (records.length === 0) return 'No message in the last hour.\n';
  return (
    records
      .map(
        (r) =>
          `${r.receivedAt}  ${r.id}  ${r.reply ? `${r.reply.code} ${r.reply.enhanced}` : '-'}  <${r.envelope.from}> → ${r.envelope.to.join(', ')}`,
      )
      .join('\n') + '\n'
  );
}
