#!/usr/bin/env node
// The CLI binary. From a checkout (the TypeScript sources and the dev dependency tsx are there)
// it runs the sources, so what runs is what was just edited; from an installed package or a
// container image (compiled dist/, production dependencies only, no tsx) it runs the build.
// tsx is registered through its API: `module.register('tsx/esm')` is refused by tsx ("tsx must
// be loaded with --import instead of --loader").
import { existsSync } from 'node:fs';

const sources = new URL('../src/main.ts', import.meta.url);
const built = new URL('../dist/main.js', import.meta.url);

/** tsx's registration API, or undefined where tsx is not installed (production). */
async function tsxApi() {
  try {
    return await import('tsx/esm/api');
  } catch {
    return undefined;
  }
}

const tsx = existsSync(sources) ? await tsxApi() : undefined;
if (tsx) {
  tsx.register();
  await import(sources.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  process.stderr.write(
    'smtp-gateway: nothing to run. From a checkout run `npm ci` (the sources run through tsx, a dev\n' +
      'dependency), or `npm run build` to compile dist/ for production.\n',
  );
  process.exit(1);
}
