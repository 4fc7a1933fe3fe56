// One table decides: the SLO class of every DATA outcome is in the reply table
// (src/delivery/replies.ts), and the alert rules must classify each outcome the same way. The
// availability SLI counts as bad every outcome its matchers do not exclude, so the excluded set
// must be exactly the outcomes the table calls good, sender's fault or back-pressure.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { dataOutcomeReplies } from '../../src/delivery/outcome-catalogue.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const rules = parse(readFileSync(`${ROOT}deploy/prometheus/rules.yaml`, 'utf8')) as {
  groups: { rules: { record?: string; alert?: string; expr: string }[] }[];
};
const exprs = rules.groups.flatMap((g) => g.rules).map((r) => ({ name: r.record ?? r.alert ?? '?', expr: r.expr }));
const table = dataOutcomeReplies();

/** The outcome labels a `smtp_gateway_messages_total{…}` selector leaves out with `outcome!~"a|b"`. */
function excluded(selector: string): Set<string> {
  const out = new Set<string>();
  for (const m of selector.matchAll(/outcome!~"([^"]*)"/g)) for (const l of (m[1] ?? '').split('|')) out.add(l);
  return out;
}

test('the reply table gives every DATA outcome an SLO class; spool mode\'s 250 (spooled) is good', () => {
  assert.equal(table.get('spooled')?.slo, 'good');
  assert.equal(table.get('accepted')?.slo, 'good');
  assert.equal(table.get('api_unavailable')?.slo, 'ours');
  assert.equal(table.get('api_rate_limited')?.slo, 'backpressure');
  assert.equal(table.get('sender_not_allowed')?.slo, 'sender');
  for (const [label, r] of table) assert.ok(['good', 'sender', 'backpressure', 'ours'].includes(r.slo), label);
});

test('every SLI rule over smtp_gateway_messages_total excludes exactly the outcomes the table does not call ours', () => {
  const notOurs = new Set([...table].filter(([, r]) => r.slo !== 'ours').map(([l]) => l));
  const sli = exprs.filter((e) => /smtp_gateway_messages_total\{[^}]*outcome!~/.test(e.expr));
  assert.ok(sli.length >= 11, `the SLI recording rules are found (${sli.length})`);
  for (const { name, expr } of sli) {
    for (const selector of expr.match(/smtp_gateway_messages_total\{[^}]*\}/g) ?? []) {
      if (!selector.includes('outcome!~')) continue;
      const ex = excluded(selector);
      const ours = [...ex].filter((l) => table.get(l)?.slo === 'ours');
      assert.deepEqual(ours, [], `${name} leaves out outcomes the reply table calls ours`);
      const unknown = [...ex].filter((l) => !table.has(l));
      assert.deepEqual(unknown, [], `${name} names outcomes the gateway never counts`);
      const missing = [...notOurs].filter((l) => !ex.has(l));
      assert.deepEqual(missing, [], `${name} counts as bad outcomes the reply table does not call ours`);
    }
  }
});

test('every outcome a rule selects by name is one the gateway counts, with the class the rule assumes', () => {
  for (const { name, expr } of exprs)
    for (const m of expr.matchAll(/outcome="([^"]+)"/g)) {
      const label = m[1] as string;
      assert.ok(table.has(label), `${name} selects outcome="${label}", which the gateway never counts`);
      // The one by-name rule is Cakemail's rate limit, alerted on by itself as back-pressure.
      assert.equal(table.get(label)?.slo, 'backpressure', `${name}: ${label}`);
    }
});
