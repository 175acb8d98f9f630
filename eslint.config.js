// ESLint for sandkit: typescript-eslint's recommended rules plus the type-aware ones that catch
// what hurts a sandbox SDK most (an unawaited promise loses a failure or leaks a sandbox), with
// every formatting rule left to Prettier (eslint-config-prettier). `npm run lint` runs it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'docs/api/',
      'node_modules/',
      'native/build/',
      'coverage/',
      '.test-work/',
      'test/fixtures/build/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      // A promise nobody awaits is a failure nobody sees and a sandbox nobody destroys.
      // `void p` is no exception: a rejection nobody handles ends the whole Node process.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // Errors only, except a caught value passed on as it came.
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `try { return p } finally { cleanup() }` would clean up before p settles.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      // The SDK has none (see the src/ block); tests may, to build hostile input.
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
  {
    // The SDK parses what the helper and the sandbox wrote: nothing untyped may flow through it.
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unsafe-argument': 'error',
      '@typescript-eslint/no-unsafe-assignment': 'error',
      '@typescript-eslint/no-unsafe-call': 'error',
      '@typescript-eslint/no-unsafe-member-access': 'error',
      '@typescript-eslint/no-unsafe-return': 'error',
    },
  },
  {
    files: ['**/*.{js,mjs}'],
    languageOptions: { globals: globals.node },
  },
  {
    rules: {
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-empty': ['error', { allowEmptyCatch: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
  // The files channel rejects with FsOpFailure records (mapped to SandboxFilesError by its
  // callers) or with the caller's own abort reason.
  {
    files: ['src/helper/fs-channel.ts'],
    rules: { '@typescript-eslint/prefer-promise-reject-errors': 'off' },
  },
  // vitest fixtures must destructure their first parameter, even when they need nothing from it.
  { files: ['test/**/*.ts', 'examples/**/*.ts'], rules: { 'no-empty-pattern': 'off' } },
  prettier
);
