import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Typed rules: the TypeScript program (tsconfig.json) tells the linter what a
    // call returns, so a promise nobody awaits or catches is found before it
    // becomes an unhandled rejection in a daemon that must not die.
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // A switch without a default names every member of its union, so a new
      // member (a payment state, a message kind) cannot be missed; a default is
      // the author's deliberate "everything else" (errno codes, ordinary scenarios).
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
    },
  },
  {
    // Programs meant for people (CLI tools, simulators, test scripts) print.
    files: ['scripts/**', 'test/**', 'daemon/otcctl.ts', 'daemon/cli/**'],
    rules: { 'no-console': 'off' },
  },
);
