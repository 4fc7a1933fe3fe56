// A minimal renderer for this repository's Helm chart, so that `npm test` can render the chart
// where helm cannot be installed: the subset of Go's text/template (actions with whitespace
// trimming, if / else if / else, range, with, define / include, variables, pipelines) and the
// Helm/Sprig functions the chart's templates use. Anything outside that subset throws, so a
// template change it does not understand fails loudly instead of rendering wrong. Real helm
// (`helm lint`, `helm template`) stays the reference; deploy/ci/run.sh runs it where present.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

type Node =
  | { t: 'text'; v: string }
  | { t: 'action'; pipe: Pipe }
  | { t: 'if'; pipe: Pipe; then: Node[]; else: Node[] }
  | { t: 'range'; pipe: Pipe; then: Node[]; else: Node[] }
  | { t: 'with'; pipe: Pipe; then: Node[]; else: Node[] };
interface Pipe {
  decl: string[];
  assign: boolean;
  cmds: Word[][];
}
type Word =
  | { k: 'ident'; v: string }
  | { k: 'field'; base: string; path: string[] } // base '' = dot, '$' = root, '$x' = variable
  | { k: 'lit'; v: unknown }
  | { k: 'paren'; pipe: Pipe };

interface Token {
  text?: string;
  action?: string;
}

/** Split into text and actions, applying `{{-` / `-}}` trimming and dropping comments. */
function lex(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open === -1 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open === -1) {
      out.push({ text });
      break;
    }
    const close = src.indexOf('}}', open);
    if (close === -1) throw new Error('unclosed action');
    let inner = src.slice(open + 2, close);
    if (inner.startsWith('-') && /\s/.test(inner[1] ?? '')) {
      text = text.replace(/\s+$/, '');
      inner = inner.slice(1);
    }
    if (inner.endsWith('-') && /\s/.test(inner[inner.length - 2] ?? '')) {
      trimNext = true;
      inner = inner.slice(0, -1);
    }
    out.push({ text });
    inner = inner.trim();
    if (!inner.startsWith('/*')) out.push({ action: inner });
    else if (!inner.endsWith('*/')) throw new Error(`bad comment: ${inner}`);
    i = close + 2;
  }
  return out;
}

function tokenizeAction(s: string): string[] {
  const toks: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|`[^`]*`|:=|[()|,=]|[^\s()|,=]+)/y;
  let m: RegExpExecArray | null;
  while (re.lastIndex < s.length && (m = re.exec(s))) toks.push(m[1]!);
  if (s.slice(re.lastIndex).trim()) throw new Error(`cannot tokenize: ${s}`);
  return toks;
}

function parsePipe(toks: string[], allowDecl = true): Pipe {
  let decl: string[] = [];
  let assign = false;
  const declEnd = toks.findIndex((t) => t === ':=' || t === '=');
  if (allowDecl && declEnd > 0 && toks.slice(0, declEnd).every((t) => t === ',' || t.startsWith('$'))) {
    decl = toks.slice(0, declEnd).filter((t) => t !== ',');
    assign = toks[declEnd] === '=';
    toks = toks.slice(declEnd + 1);
  }
  const cmds: Word[][] = [[]];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === '|') {
      cmds.push([]);
    } else if (t === '(') {
      let depth = 1;
      let j = i + 1;
      for (; j < toks.length && depth > 0; j++) depth += toks[j] === '(' ? 1 : toks[j] === ')' ? -1 : 0;
      cmds[cmds.length - 1]!.push({ k: 'paren', pipe: parsePipe(toks.slice(i + 1, j - 1), false) });
      i = j - 1;
    } else {
      cmds[cmds.length - 1]!.push(word(t));
    }
  }
  return { decl, assign, cmds };
}

function word(t: string): Word {
  if (t.startsWith('"')) return { k: 'lit', v: JSON.parse(t) };
  if (t.startsWith('`')) return { k: 'lit', v: t.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(t)) return { k: 'lit', v: Number(t) };
  if (t === 'true' || t === 'false') return { k: 'lit', v: t === 'true' };
  if (t === 'nil') return { k: 'lit', v: undefined };
  if (t === '.') return { k: 'field', base: '', path: [] };
  if (t.startsWith('.')) return { k: 'field', base: '', path: t.slice(1).split('.') };
  if (t.startsWith('$')) {
    const [base, ...path] = t.split('.');
    return { k: 'field', base: base!, path };
  }
  if (/^[A-Za-z_]\w*$/.test(t)) return { k: 'ident', v: t };
  throw new Error(`unknown token ${t}`);
}

interface Parsed {
  nodes: Node[];
  defines: Map<string, Node[]>;
}

function parseTemplate(src: string): Parsed {
  const toks = lex(src);
  const defines = new Map<string, Node[]>();
  let pos = 0;
  const list = (): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (pos < toks.length) {
      const tok = toks[pos++]!;
      if (tok.text !== undefined) {
        if (tok.text) nodes.push({ t: 'text', v: tok.text });
        continue;
      }
      const a = tok.action!;
      const [kw] = a.split(/\s+/, 1);
      if (a === 'end' || a === 'else' || a.startsWith('else if ')) return { nodes, stop: a };
      if (kw === 'if') nodes.push(ifNode(a.slice(3)));
      else if (kw === 'range' || kw === 'with') {
        const pipe = parsePipe(tokenizeAction(a.slice(kw.length + 1)));
        const body = list();
        let els: Node[] = [];
        if (body.stop === 'else') els = expectEnd(list());
        else if (body.stop !== 'end') throw new Error(`${kw} closed by ${body.stop}`);
        nodes.push({ t: kw, pipe, then: body.nodes, else: els });
      } else if (kw === 'define') {
        const name = JSON.parse(a.slice(7).trim()) as string;
        defines.set(name, expectEnd(list()));
      } else if (kw === 'template' || kw === 'block') {
        throw new Error(`${kw} is not supported by this renderer (use include)`);
      } else nodes.push({ t: 'action', pipe: parsePipe(tokenizeAction(a)) });
    }
    return { nodes, stop: 'EOF' };
  };
  const expectEnd = (r: { nodes: Node[]; stop: string }) => {
    if (r.stop !== 'end') throw new Error(`expected end, got ${r.stop}`);
    return r.nodes;
  };
  // `else if` shares the `end` of the if it continues.
  const ifNode = (cond: string): Node => {
    const pipe = parsePipe(tokenizeAction(cond));
    const body = list();
    if (body.stop === 'end') return { t: 'if', pipe, then: body.nodes, else: [] };
    if (body.stop === 'else') return { t: 'if', pipe, then: body.nodes, else: expectEnd(list()) };
    if (body.stop.startsWith('else if '))
      return { t: 'if', pipe, then: body.nodes, else: [ifNode(body.stop.slice(8))] };
    throw new Error(`if closed by ${body.stop}`);
  };
  const r = list();
  if (r.stop !== 'EOF') throw new Error(`unexpected ${r.stop}`);
  return { nodes: r.nodes, defines };
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}
function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'object') return stringifyYaml(v).trimEnd();
  return String(v as string | number | boolean | bigint);
}
const toYaml = (v: unknown) =>
  v === undefined || v === null ? 'null' : stringifyYaml(v, { sortMapEntries: true, lineWidth: 0 }).trimEnd();
const indent = (n: number, s: string) =>
  s
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');

class Scope {
  vars = new Map<string, unknown>();
  constructor(readonly parent?: Scope) {}
  get(name: string): unknown {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.parent) return this.parent.get(name);
    throw new Error(`undefined variable ${name}`);
  }
  set(name: string, v: unknown, declare: boolean) {
    if (declare || this.vars.has(name) || !this.parent) this.vars.set(name, v);
    else this.parent.set(name, v, false);
  }
}

export interface RenderInput {
  chartDir: string;
  values: Record<string, unknown>;
  release?: { name: string; namespace: string };
}

/** Render every template of the chart: file name → rendered text (helpers and NOTES included). */
export function renderChart(input: RenderInput): Map<string, string> {
  const chart = parseYaml(readFileSync(join(input.chartDir, 'Chart.yaml'), 'utf8')) as Record<string, string>;
  const tdir = join(input.chartDir, 'templates');
  const files = readdirSync(tdir).sort();
  const defines = new Map<string, Node[]>();
  const parsed = new Map<string, Node[]>();
  for (const f of files) {
    const p = parseTemplate(readFileSync(join(tdir, f), 'utf8'));
    for (const [k, v] of p.defines) defines.set(k, v);
    parsed.set(f, p.nodes);
    defines.set(`${chart.name}/templates/${f}`, p.nodes);
  }
  const root = {
    Values: input.values,
    Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
    Release: {
      Name: input.release?.name ?? 'smtp',
      Namespace: input.release?.namespace ?? 'smtp-gateway',
      Service: 'Helm',
    },
    Template: { BasePath: `${chart.name}/templates` },
    Files: { Get: (path: string) => readFileSync(join(input.chartDir, path), 'utf8') },
  };

  const funcs: Record<string, (...a: any[]) => unknown> = {
    include: (name: string, data: unknown) => {
      const nodes = defines.get(name);
      if (!nodes) throw new Error(`no template ${name}`);
      return exec(nodes, data, new Scope(), data);
    },
    toYaml,
    fromYaml: (s: string) => parseYaml(s) ?? {},
    nindent: (n: number, s: string) => '\n' + indent(n, str(s)),
    indent: (n: number, s: string) => indent(n, str(s)),
    quote: (...a: unknown[]) => a.map((v) => JSON.stringify(str(v))).join(' '),
    default: (d: unknown, v?: unknown) => (truthy(v) ? v : d),
    trunc: (n: number, s: string) => str(s).slice(0, n),
    trimSuffix: (suf: string, s: string) => (str(s).endsWith(suf) ? str(s).slice(0, -suf.length) : str(s)),
    printf: (fmt: string, ...a: unknown[]) => {
      let i = 0;
      return fmt.replace(/%[sdv]/g, () => str(a[i++]));
    },
    print: (...a: unknown[]) => a.map(str).join(''),
    contains: (sub: string, s: string) => str(s).includes(sub),
    replace: (from: string, to: string, s: string) => str(s).split(from).join(str(to)),
    sha256sum: (s: string) => createHash('sha256').update(str(s)).digest('hex'),
    int: (v: unknown) => {
      const n = Number.parseInt(str(v), 10);
      return Number.isNaN(n) ? 0 : n;
    },
    toString: (v: unknown) => str(v),
    eq: (a: unknown, ...b: unknown[]) => b.some((x) => x === a),
    ne: (a: unknown, b: unknown) => a !== b,
    not: (v: unknown) => !truthy(v),
    and: (...a: unknown[]) => a.find((v) => !truthy(v)) ?? a[a.length - 1],
    or: (...a: unknown[]) => a.find((v) => truthy(v)) ?? a[a.length - 1],
    list: (...a: unknown[]) => a,
    index: (coll: any, ...keys: unknown[]) =>
      keys.reduce((c: any, k) => (c == null ? undefined : c[k as string]), coll),
    keys: (m: Record<string, unknown>) => Object.keys(m),
    sortAlpha: (l: unknown[]) => [...l].map(str).sort(),
    deepCopy: (v: unknown) => structuredClone(v),
    set: (m: Record<string, unknown>, k: string, v: unknown) => {
      m[k] = v;
      return m;
    },
    empty: (v: unknown) => !truthy(v),
    kindIs: (kind: string, v: unknown) =>
      kind === 'invalid'
        ? v == null
        : kind === 'map'
          ? isMap(v)
          : kind === 'slice'
            ? Array.isArray(v)
            : kind === 'string'
              ? typeof v === 'string'
              : kind === 'bool'
                ? typeof v === 'boolean'
                : false,
    fail: (msg: string) => {
      throw new Error(`fail: ${msg}`);
    },
    required: (msg: string, v: unknown) => {
      if (!truthy(v)) throw new Error(`required: ${msg}`);
      return v;
    },
  };

  const evalWord = (w: Word, dot: unknown, scope: Scope): unknown => {
    switch (w.k) {
      case 'lit':
        return w.v;
      case 'paren':
        return evalPipe(w.pipe, dot, scope);
      case 'ident':
        throw new Error(`function ${w.v} used as a value`);
      case 'field': {
        let v: any = w.base === '' ? dot : w.base === '$' ? root : scope.get(w.base);
        for (const key of w.path) v = v == null ? undefined : v[key];
        return v;
      }
    }
  };
  const evalCmd = (words: Word[], dot: unknown, scope: Scope, piped: unknown[]): unknown => {
    const [head, ...rest] = words;
    if (!head) throw new Error('empty command');
    if (head.k === 'ident') {
      const fn = funcs[head.v];
      if (!fn) throw new Error(`unknown function ${head.v}`);
      return fn(...rest.map((r) => evalWord(r, dot, scope)), ...piped);
    }
    const v = evalWord(head, dot, scope);
    if (typeof v === 'function') return v(...rest.map((r) => evalWord(r, dot, scope)), ...piped);
    if (rest.length || piped.length) throw new Error('arguments given to a value');
    return v;
  };
  const evalPipe = (p: Pipe, dot: unknown, scope: Scope): unknown => {
    let piped: unknown[] = [];
    let v: unknown;
    for (const c of p.cmds) {
      v = evalCmd(c, dot, scope, piped);
      piped = [v];
    }
    return v;
  };
  const exec = (nodes: Node[], dot: unknown, scope: Scope, _data: unknown): string => {
    let out = '';
    for (const n of nodes) {
      if (n.t === 'text') out += n.v;
      else if (n.t === 'action') {
        const v = evalPipe(n.pipe, dot, scope);
        if (n.pipe.decl.length) scope.set(n.pipe.decl[0]!, v, !n.pipe.assign);
        else out += str(v);
      } else if (n.t === 'if') {
        out += truthy(evalPipe(n.pipe, dot, scope))
          ? exec(n.then, dot, new Scope(scope), _data)
          : exec(n.else, dot, new Scope(scope), _data);
      } else if (n.t === 'with') {
        const v = evalPipe(n.pipe, dot, scope);
        out += truthy(v) ? exec(n.then, v, new Scope(scope), _data) : exec(n.else, dot, new Scope(scope), _data);
      } else {
        const coll = evalPipe({ ...n.pipe, decl: [] }, dot, scope);
        const entries: [unknown, unknown][] = Array.isArray(coll)
          ? coll.map((v, i) => [i, v])
          : isMap(coll)
            ? Object.keys(coll)
                .sort()
                .map((k) => [k, coll[k]])
            : [];
        if (entries.length === 0) out += exec(n.else, dot, new Scope(scope), _data);
        for (const [k, v] of entries) {
          const s = new Scope(scope);
          const d = n.pipe.decl;
          if (d.length === 1) s.set(d[0]!, v, true);
          if (d.length === 2) {
            s.set(d[0]!, k, true);
            s.set(d[1]!, v, true);
          }
          out += exec(n.then, v, s, _data);
        }
      }
    }
    return out;
  };

  const out = new Map<string, string>();
  for (const [f, nodes] of parsed) {
    const s = new Scope();
    s.set('$', root, true);
    out.set(f, exec(nodes, root, s, root));
  }
  return out;
}

/** Deep merge of values overlays, as helm's -f does (maps merge, everything else replaces). */
export function mergeValues(
  base: Record<string, unknown>,
  ...overlays: Record<string, unknown>[]
): Record<string, unknown> {
  const merge = (a: unknown, b: unknown): unknown => {
    if (isMap(a) && isMap(b)) {
      const r: Record<string, unknown> = { ...a };
      for (const [k, v] of Object.entries(b)) r[k] = merge(a[k], v);
      return r;
    }
    return b === undefined ? a : b;
  };
  return overlays.reduce<Record<string, unknown>>(
    (acc, o) => merge(acc, o) as Record<string, unknown>,
    structuredClone(base),
  );
}
