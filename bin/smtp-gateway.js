#!/usr/bin/env node
// The CLI binary: runs the compiled build when present (npm run build), else the TypeScript
// sources through tsx (a runtime dependency), so `npx smtp-gateway` works from a checkout.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const built = new URL('../dist/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  register('tsx/esm', import.meta.url);
  await import(new URL('../src/main.ts', import.meta.url).href);
}
