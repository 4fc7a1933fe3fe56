// Unit checks of the schema helpers that the contract tests do not reach cheaply.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STRICT_BASE64_PATTERN } from '../../src/cakemail/types.ts';
import { isEmailAddress, isStrictBase64 } from '../../src/sandbox/validate.ts';

describe('isStrictBase64', () => {
  it('agrees with STRICT_BASE64_PATTERN on tricky inputs', () => {
    const samples = [
      '',
      'AA==',
      'AAA=',
      'AAAA',
      'A===',
      '====',
      '=AAA',
      'AA=A',
      'AAAAA',
      'AAA',
      'AA AA',
      'AA\nA',
      'ab+/',
      'ab-_',
      'QUJD\r\n',
      'Zm9vYmFy',
      'Zm9vYg==',
      'Zm9vYmE=',
    ];
    for (const s of samples) assert.equal(isStrictBase64(s), STRICT_BASE64_PATTERN.test(s), JSON.stringify(s));
    const alphabet = 'AB+/=\n';
    for (let i = 0; i < 5000; i++) {
      const len = i % 9;
      let s = '';
      for (let j = 0; j < len; j++) s += alphabet[(i * 7 + j * 13 + (i >> j)) % alphabet.length];
      assert.equal(isStrictBase64(s), STRICT_BASE64_PATTERN.test(s), JSON.stringify(s));
    }
  });

  it('handles attachment-sized input, where the regex overflows the stack', () => {
    const big = 'QUJD'.repeat(4 * 1024 * 1024) + 'QQ==';
    assert.equal(isStrictBase64(big), true);
    assert.equal(isStrictBase64(big.slice(0, 1000) + '\n' + big.slice(1001)), false);
  });
});

describe('isEmailAddress', () => {
  it('accepts ordinary addresses and refuses junk', () => {
    for (const ok of ['a@example.org', 'first.last+tag@sub.example.co.uk', 'x_y-z@example-1.net'])
      assert.equal(isEmailAddress(ok), true, ok);
    for (const bad of [
      '',
      'a',
      'a@',
      '@example.org',
      'a@example',
      'a b@example.org',
      'a@exa mple.org',
      '.a@example.org',
      'a..b@example.org',
      'a@example.org\r\nBcc: x@y.z',
      'a@-example.org',
      'a@example.123',
      '<a@example.org>',
    ]) {
      assert.equal(isEmailAddress(bad), false, JSON.stringify(bad));
    }
  });
});
