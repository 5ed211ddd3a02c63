import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { DAEMON_NODE_FLAGS } from '../../daemon/node-flags.js';
import { httpGettersNeedWasm } from '../../daemon/provider/http-getters.js';

const versions = (undici?: string): NodeJS.ProcessVersions => ({ ...process.versions, undici } as NodeJS.ProcessVersions);

describe("node:http's lazy undici getters under --jitless", () => {
  test('replaced only where undici < 7 meets a runtime without WebAssembly (Node 22 with --jitless)', () => {
    expect(httpGettersNeedWasm(versions('6.28.1'), false)).toBe(true);
    expect(httpGettersNeedWasm(versions('6.28.1'), true)).toBe(false);
    expect(httpGettersNeedWasm(versions('7.29.1'), false)).toBe(false);
    expect(httpGettersNeedWasm(versions(undefined), false)).toBe(false);
  });

  test("with otcd's flags, this node imports node:http after the guard and lives on", () => {
    const guard = join(process.cwd(), 'dist', 'daemon', 'provider', 'http-getters.js');
    const script = `const { disarmHttpGettersWithoutWasm } = await import(${JSON.stringify(guard)});
      process.on('unhandledRejection', (e) => { console.log('unhandled', String(e)); process.exit(1); });
      const replaced = disarmHttpGettersWithoutWasm();
      const http = await import('node:http');
      await new Promise((r) => setTimeout(r, 300));
      console.log(JSON.stringify({ replaced, request: typeof http.request }));`;
    const r = spawnSync(process.execPath, [...DAEMON_NODE_FLAGS, '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { replaced: string[]; request: string };
    expect(out.request).toBe('function');
    // Node 20: undici 6 but no such getters; Node 22: undici 6 and the getters; 24 and 26: undici 7.
    const hasGetters = Object.getOwnPropertyDescriptor(createRequire(import.meta.url)('node:http'), 'WebSocket')?.get !== undefined;
    expect(out.replaced).toEqual(hasGetters && process.versions.undici?.startsWith('6.') ? ['WebSocket', 'CloseEvent', 'MessageEvent'] : []);
  });
});
