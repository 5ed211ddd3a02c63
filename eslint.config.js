import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
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
