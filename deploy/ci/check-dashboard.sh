#!/usr/bin/env bash
# Parses every PromQL query of deploy/grafana/dashboard.json with promtool: Grafana's variables
# are replaced by sample values and each query becomes a recording rule of a throw-away rules
# file, which `promtool check rules` parses. (Metric names are checked by test/deploy.)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp /tmp/dashboard-rules.XXXXXX.yaml)
trap 'rm -f "$tmp"' EXIT
node -e '
  const d = JSON.parse(require("fs").readFileSync("deploy/grafana/dashboard.json", "utf8"));
  const exprs = [];
  for (const p of d.panels) for (const t of p.targets ?? []) exprs.push(t.expr);
  const sub = (e) => e.replaceAll("$__rate_interval", "5m").replaceAll("$__range", "6h").replaceAll("$namespace", ".*").replaceAll("$pod", ".*");
  const rules = exprs.map((e, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(sub(e))}`);
  process.stdout.write(`groups:\n  - name: dashboard\n    rules:\n${rules.join("\n")}\n`);
  process.stderr.write(`${exprs.length} dashboard queries\n`);
' >"$tmp"
promtool check rules "$tmp"
