// The linter's rule set (docs/testing.md, "Lint"). Chosen to find bugs, not to restyle: the
// formatter (Prettier) owns layout, and every rule here either caught a real defect in this tree
// or guards a class of defect the gateway cannot afford (a promise nobody awaits loses an error
// and can leave an SMTP reply unsent; a switch over a typed outcome that misses a case answers
// nothing). Rules that mostly flag intended code in this project are left off, with the reason.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'test/fixtures/', 'deploy/', 'docs/'] },
  // A disable comment that no longer silences anything is itself an error: it would hide the next real finding.
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // TypeScript checks names and redeclarations itself, and knows Node's globals.
      'no-undef': 'off',
      'no-redeclare': 'off',
      'no-unused-vars': 'off',
      'no-dupe-class-members': 'off',
      // A promise nobody awaits or catches: its rejection is lost, or crashes the process as an
      // unhandled rejection. node:test's test()/describe() return promises the runner tracks.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      // An async function where a callback's result is ignored (an event handler, forEach,
      // smtp-server's hooks): its rejection goes nowhere.
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // Outcomes are unions; a switch that misses a member silently falls out of the function.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // "[object Object]" in a reply, a log line or an API field.
      '@typescript-eslint/no-base-to-string': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      // A method passed around without its object loses `this` (smtp-server's internals are
      // patched by taking methods off objects: each such place binds or says why not).
      '@typescript-eslint/unbound-method': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // The gateway's job includes finding CR, LF, NUL and other control characters in what
      // clients send: regular expressions that name them are the point, not a mistake.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['bin/**/*.js'],
    // The one plain-JavaScript file: the CLI binary, run by Node.
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
