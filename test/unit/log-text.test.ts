import assert from 'node:assert/strict';
import { test } from 'node:test';
import { logText } from '../../src/observability/log-text.ts';

test('logText: bounded, control characters replaced', () => {
  assert.equal(logText('user@example.com'), 'user@example.com');
  assert.equal(logText('a\r\nb\u0000c\u001b[2J'), 'a??b?c?[2J');
  assert.equal(logText('x'.repeat(100)), `${'x'.repeat(64)}...(100 chars)`);
});
