// The MIME stage against an independent parser, Python's `email` (policy.default), on the fixture
// corpus (mail from nodemailer, Python, OpenSSL/GnuPG, and hand-written shapes of Outlook, Apple
// Mail, scripts and every broken-structure class) and on mutants of it: boundaries deleted,
// duplicated, misspelled or closed early, truncation at random points, malformed header lines,
// charsets mislabelled or dropped (a fixed seed, a bounded count), and subjects split into
// encoded words at every byte and every base64 character.
//
// Asserted for every message: no crash and no hang; every refusal names its reason; every message
// accepted carries the text Python's reader is shown, compared with whitespace removed, or differs
// only where a repair of ours is documented to read more than Python does (docs/testing.md,
// "Differential test against Python's email").
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { EML_DIR } from '../../scripts/fixtures/golden-lib.ts';
import { inspectMessage } from '../../src/delivery/inspect.ts';
import { parseMessage } from '../../src/mime/parse-message.ts';
import type { RepairKind } from '../../src/mime/repairs.ts';
import type { ParsedMessage } from '../../src/mime/types.ts';
import { mutants, splitSubjects, type Mutant } from '../helpers/mime-mutate.ts';

const SEED = 18_2026;
const MUTANTS = 1500;
const LIMITS = { maxDepth: 10, maxParts: 1000, maxHeaderBytes: 1 << 20 };
/** A parse slower than this is a hang (the pool's own deadline is 5 s; parses here take < 1 ms). */
const HANG_MS = 2000;
const ORACLE = new URL('../helpers/python_email_oracle.py', import.meta.url);

// Refusals by documented policy (docs/message-mapping.md §5, §6): nothing else may refuse.
const POLICY_REFUSALS = [
  /is not one the gateway can decode/,
  /encrypted or S\/MIME-wrapped/,
  /exceeds \d+|more than \d+ header fields/,
];

// Where a documented repair reads more than Python does and no undamaged message is at hand (the
// hand-written class fixtures, damage after another mutation; docs/testing.md): the texts must
// still agree word for word in one direction.
const READS_MORE: Partial<Record<RepairKind, 'ours_within_python' | 'python_within_ours'>> = {
  // Python ends the header at the broken line: the rest of the header is its body text.
  malformed_header_line: 'ours_within_python',
  // Python shows the part's own header lines as text; we read them as the part's header.
  multipart_without_parts: 'ours_within_python',
  // Python ends the multipart at the first closing delimiter; we read the parts after it.
  stray_closing_boundary: 'python_within_ours',
};

interface Oracle {
  id: string;
  ok: boolean;
  error?: string;
  subject?: string | null;
  from?: string[] | null;
  leaves?: Array<{ kind: 'plain' | 'html'; text: string }>;
}

const python = spawnSync('python3', ['-c', 'import email.policy'], { encoding: 'utf8' });

test(
  'differential: the MIME stage against Python email on the corpus and its mutants',
  { skip: python.status !== 0 ? 'python3 is not installed' : false },
  async (t) => {
    const seeds = readdirSync(EML_DIR)
      .filter((f) => f.endsWith('.eml'))
      .sort()
      .map((name) => ({ name, bytes: readFileSync(new URL(name, EML_DIR)) }));
    // Subjects already split against RFC 2047 (the class fixtures) are no truth to split again.
    const splits = seeds
      .filter((s) => !s.name.startsWith('hand-split-'))
      .flatMap((s) => splitSubjects(s.bytes).map((m) => ({ ...m, name: `${s.name} ${m.name}` })));
    const corpus: Mutant[] = [...seeds, ...mutants(seeds, SEED, MUTANTS), ...splits];

    const references = corpus.flatMap((m) => (m.reference ? [{ name: m.name, bytes: m.reference }] : []));
    const answers = runOracle([...corpus, ...references]);
    const oracle = answers.slice(0, corpus.length);
    const referenceOf = new Map(references.map((r, i) => [r.name, answers[corpus.length + i] as Oracle]));
    const truthOfSeed = new Map(seeds.map((s, i) => [s.name, oracle[i] as Oracle]));

    const counts = {
      messages: corpus.length,
      seeds: seeds.length,
      mutants: corpus.length - seeds.length - splits.length,
      splits: splits.length,
      equal: 0,
      contains: 0,
      equal_to_undamaged: 0,
      undecodable: 0,
      reads_more: 0,
      refused: 0,
      python_failed: 0,
      python_misreads_split_subject: 0,
    };
    const exceptions: Record<string, number> = {};
    const reasons: Record<string, number> = {};
    const failures: string[] = [];
    let slowest = 0;

    for (const [i, m] of corpus.entries()) {
      const py = oracle[i] as Oracle;
      const started = process.hrtime.bigint();
      const r = await parseMessage(
        m.bytes.buffer.slice(m.bytes.byteOffset, m.bytes.byteOffset + m.bytes.byteLength) as ArrayBuffer,
        LIMITS,
      );
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      slowest = Math.max(slowest, ms);
      if (ms > HANG_MS) failures.push(`${m.name}: parse took ${ms.toFixed(0)} ms`);
      if (!r.ok) {
        counts.refused++;
        const reason = `${r.failure.kind}: ${r.failure.detail}`;
        reasons[r.failure.detail.replace(/"[^"]*"|\d+/g, '…')] =
          (reasons[r.failure.detail.replace(/"[^"]*"|\d+/g, '…')] ?? 0) + 1;
        if (!POLICY_REFUSALS.some((p) => p.test(r.failure.detail)))
          failures.push(`${m.name}: refused without a policy reason: ${reason}`);
        continue;
      }
      const inspected = inspectMessage(r.message);
      if (!inspected.ok) {
        counts.refused++;
        const refusal = inspected.refusal as { kind: string; reason?: string };
        const key = `${refusal.kind}: ${(refusal.reason ?? '').replace(/"[^"]*"|<[^>]*>|\d+/g, '…')}`;
        reasons[key] = (reasons[key] ?? 0) + 1;
        if ((refusal.reason ?? '').length < 10) failures.push(`${m.name}: refusal without a reason: ${key}`);
        // A From that Python reads must never be "missing" here (a broken line above it).
        if (
          /From header|From address/.test(refusal.reason ?? '') &&
          py.ok &&
          py.from?.length === 1 &&
          /^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i.test(py.from[0] as string) &&
          r.message.from.length === 0
        )
          failures.push(`${m.name}: ${key}, but Python reads From ${py.from[0]}`);
        continue;
      }
      if (!py.ok) {
        counts.python_failed++;
        continue;
      }
      const split = m.name.includes(' split ');
      if (split && squash(py.subject ?? '') !== squash(truthOfSeed.get(m.name.split(' ')[0] as string)?.subject ?? ''))
        counts.python_misreads_split_subject++;
      let verdict = compare(r.message, py, split ? truthOfSeed.get(m.name.split(' ')[0] as string) : undefined);
      const reference = referenceOf.get(m.name);
      if ((verdict.kind === 'differs' || verdict.kind === 'reads_more') && reference?.ok) {
        // Damage Python does not see through (it ends the header at a broken line, a multipart at
        // the first closing delimiter): the same message undamaged is the reading to match.
        const again = compare(r.message, reference, undefined);
        if (again.kind === 'equal' || again.kind === 'contains') verdict = { kind: 'equal_to_undamaged' };
      }
      if (verdict.kind === 'differs') failures.push(`${m.name}: ${verdict.detail}`);
      else if (verdict.kind === 'reads_more') {
        counts.reads_more++;
        exceptions[verdict.repair] = (exceptions[verdict.repair] ?? 0) + 1;
      } else counts[verdict.kind]++;
    }

    t.diagnostic(`differential counts: ${JSON.stringify(counts)}`);
    t.diagnostic(`accepted with a documented difference from Python, by repair: ${JSON.stringify(exceptions)}`);
    t.diagnostic(`refusals by reason: ${JSON.stringify(reasons)}`);
    t.diagnostic(`slowest parse: ${slowest.toFixed(1)} ms`);
    assert.deepEqual(failures.slice(0, 15), [], `${failures.length} of ${corpus.length} messages disagree`);
    assert.ok(counts.equal > corpus.length / 2, 'most messages agree exactly: the comparison is not vacuous');
  },
);

function runOracle(corpus: Mutant[]): Oracle[] {
  const input = corpus.map((m, i) => JSON.stringify({ id: String(i), b64: m.bytes.toString('base64') })).join('\n');
  const res = spawnSync('python3', [ORACLE.pathname], {
    input,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    timeout: 120_000,
  });
  assert.equal(res.status, 0, `the Python oracle failed: ${res.stderr}`);
  const out = res.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Oracle);
  assert.equal(out.length, corpus.length);
  return out;
}

/** Whitespace removed, controls removed (the gateway cleans them from headers and bodies differ only in line ends). */
const squash = (s: string): string => s.replace(/[\s\u0000-\u001f\u007f-\u009f]+/g, '');

type Verdict =
  | { kind: 'equal' | 'contains' | 'equal_to_undamaged' | 'undecodable' }
  | { kind: 'reads_more'; repair: RepairKind }
  | { kind: 'differs'; detail: string };

function compare(ours: ParsedMessage, py: Oracle, seedTruth: Oracle | undefined): Verdict {
  const repairs = Object.keys(ours.repairs ?? {}) as RepairKind[];
  // Subjects: a subject split into encoded words is compared with the seed's subject as Python
  // read it unsplit (Python 3.11 does not join split words); U+FFFD in Python's reading of raw
  // 8-bit header text stands for the bytes it could not read.
  const expected = seedTruth ? seedTruth.subject : py.subject;
  if (!subjectMatches(ours.subject, expected ?? '')) {
    const explained = repairs.find((k) => k === 'malformed_header_line' || k === 'split_encoded_word');
    if (!explained || seedTruth)
      return {
        kind: 'differs',
        detail: `subject ${JSON.stringify(ours.subject)} ≠ Python ${JSON.stringify(expected)}`,
      };
  }
  // Bytes with no reading in their declared charset (binary base64 data merged into a text part
  // by a broken delimiter): each decoder replaces them differently, so only the text before the
  // first U+FFFD is compared.
  const undecodable = (py.leaves ?? []).some((l) => l.text.includes('\ufffd'));
  const leaves = (py.leaves ?? [])
    .map((l) => ({ ...l, text: squash(l.text.split('\ufffd')[0] as string) }))
    .filter((l) => l.text);
  const text = squash(ours.text ?? '');
  const html = squash(ours.html ?? '');
  const within = (l: { kind: string; text: string }): boolean => (l.kind === 'html' ? html : text).includes(l.text);
  if (
    !undecodable &&
    ours.html === null &&
    leaves.every((l) => l.kind === 'plain') &&
    text === leaves.map((l) => l.text).join('')
  )
    return { kind: 'equal' };
  if (leaves.every(within)) return { kind: undecodable ? 'undecodable' : 'contains' };
  const pyWords = wordsOf((py.leaves ?? []).map((l) => l.text).join(' '));
  const ourWords = wordsOf(`${ours.text ?? ''} ${ours.html ?? ''}`);
  for (const repair of repairs) {
    const direction = READS_MORE[repair];
    if (direction === 'ours_within_python' && subset(ourWords, pyWords)) return { kind: 'reads_more', repair };
    if (direction === 'python_within_ours' && subset(pyWords, ourWords)) return { kind: 'reads_more', repair };
  }
  return {
    kind: 'differs',
    detail: `text ${JSON.stringify((ours.text ?? '').slice(0, 120))} html ${JSON.stringify((ours.html ?? '').slice(0, 80))} ≠ Python ${JSON.stringify((py.leaves ?? []).map((l) => `${l.kind}: ${l.text.slice(0, 100)}`))} (repairs ${repairs.join(',') || 'none'})`,
  };
}

function subjectMatches(ours: string, python: string): boolean {
  const a = squash(ours);
  const b = squash(python);
  if (a === b) return true;
  if (!b.includes('\ufffd')) return false;
  const pattern = b
    .split('\ufffd')
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.+?');
  return new RegExp(`^${pattern}$`, 's').test(a);
}

function wordsOf(s: string): Set<string> {
  return new Set(s.split(/[\s<>"'=;:,.]+/).filter((w) => w.length > 0));
}

function subset(a: Set<string>, b: Set<string>): boolean {
  for (const w of a) if (!b.has(w)) return false;
  return true;
}
