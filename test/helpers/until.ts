// Polls a condition every 50 ms until it holds; fails the test, naming what it waited for, when
// `timeoutMs` passes first. Resolves with the condition's value, so a test can wait for a thing
// and use it.
import assert from 'node:assert/strict';

/**
 * Polls `read` every 50 ms until `done` holds for its value or `timeoutMs` passes, and resolves
 * with the last value either way: for a wait whose outcome the test then asserts on with its own
 * message (a log it prints, say).
 */
export async function settled<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean,
  timeoutMs: number,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function until<T>(
  what: string,
  fn: () => Promise<T | false | undefined | null>,
  timeoutMs = 20_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
