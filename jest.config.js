// jest runs the TypeScript sources as ES modules through ts-jest's ESM preset
// (needs NODE_OPTIONS=--experimental-vm-modules, set by `npm run jest`).
// Integration tests spawn the compiled programs under dist/, so `npm test`
// builds first.
import { createDefaultEsmPreset } from 'ts-jest';

const preset = createDefaultEsmPreset({ tsconfig: 'tsconfig.json' });

export default {
  ...preset,
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 60_000,
  // CI has two busy cores; integration suites spawn processes and ptys.
  maxWorkers: 2,
};
