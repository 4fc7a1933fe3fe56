// External programs the tests drive. In CI (.ci/run installs them) a missing one fails the
// test; on a developer machine without it the test is skipped, saying what to install.
import { execFileSync } from 'node:child_process';

export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A `skip` option for node:test: false (run) when the tool is there or in CI. */
export function skipWithout(name: string, pkg = name): string | false {
  if (hasTool(name) || process.env.CI) return false;
  return `${name} not installed (apt-get install ${pkg})`;
}
