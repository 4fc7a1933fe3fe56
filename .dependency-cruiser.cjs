// The import-layering check (docs/architecture.md, "Modules"). The floors are read from the
// table in architecture.md itself, so the document is the rule: a change to one is a change to
// the other. A directory of src/ that the table does not place fails here by name.
const { readFileSync, readdirSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = __dirname;

/** `[{ floor, modules: ['smtp', 'app.ts', …] }]` from the "| Floor | Modules |" table. */
function floorsFromDoc() {
  const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');
  const start = doc.indexOf('| Floor | Modules |');
  if (start < 0) throw new Error('docs/architecture.md has no "| Floor | Modules |" table');
  const floors = [];
  for (const line of doc.slice(start).split('\n').slice(2)) {
    const m = /^\| (\d+) \| (.+) \|$/.exec(line);
    if (!m) break;
    const modules = [...m[2].matchAll(/`src\/([^`/]+)\/?`/g)].map((x) => x[1]);
    floors.push({ floor: Number(m[1]), modules });
  }
  return floors;
}

const floors = floorsFromDoc();
const floorOf = new Map(floors.flatMap((f) => f.modules.map((m) => [m, f.floor])));
const unplaced = readdirSync(join(ROOT, 'src')).filter((name) => !floorOf.has(name));
if (unplaced.length > 0)
  throw new Error(
    `src/${unplaced.join(', src/')} has no floor: add it to the floor table in docs/architecture.md ("Modules")`,
  );

const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A path pattern for a module: a directory (everything under it) or a file of src/. */
const pathOf = (m) => (m.endsWith('.ts') ? `^src/${esc(m)}$` : `^src/${esc(m)}/`);

const layering = [...floorOf].flatMap(([module, floor]) => {
  const notBelow = [...floorOf].filter(([other, f]) => other !== module && f >= floor).map(([other]) => other);
  if (notBelow.length === 0) return []; // the top floor: nothing is above it
  return {
    name: `floor-${floor}-${module.replace(/\.ts$/, '')}`,
    comment: `src/${module} (floor ${floor}) imports only its own directory and lower floors (docs/architecture.md, "Modules")`,
    severity: 'error',
    from: { path: pathOf(module) },
    to: { path: notBelow.map(pathOf) },
  };
});

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle: modules that cannot be understood, tested or loaded one without the other',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-not-to-tests-or-scripts',
      comment: 'The product never imports its tests or its scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: ['^test/', '^scripts/'] },
    },
    ...layering,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^test/fixtures/', '^dist/'] },
    // `import type` counts: a type from a higher floor ties the lower one to it all the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
