// Polls a condition every 50 ms until it holds; fails the test, naming what it waited for, when
// `timeoutMs` passes first. Resolves with the condition's value, so a test can wait for a thing
// and use it.
import assert from 'node:assert/strict';

export async function until<T>(what: string, fn: () => Promise<T | false | undefined | null>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
