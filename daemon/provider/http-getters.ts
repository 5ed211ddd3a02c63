/**
 * Node 22 under --jitless (otcd's flags, daemon/node-flags.ts): `node:http`
 * has lazy getters WebSocket, CloseEvent and MessageEvent that load Node's
 * bundled undici 6, which compiles its HTTP parser as WebAssembly; without
 * the JIT there is no WebAssembly, and the load fails with an unhandled
 * rejection ("ReferenceError: WebAssembly is not defined") that ends the
 * daemon. Node reads every export of a built-in module the first time ES
 * module code imports it, so got's `import http from 'node:http'` did this
 * on the first provider request after READY. Node 20 has no such getters;
 * Node 24 and 26 (undici 7) load them without WebAssembly.
 *
 * So, before the HTTPS stack is imported, and only where undici is older
 * than 7 and WebAssembly is missing, the three getters are replaced by
 * `undefined` (reading them cannot be tried: the failure is asynchronous).
 * otcd uses none of them.
 */
import { createRequire } from 'node:module';

const LAZY_UNDICI_EXPORTS = ['WebSocket', 'CloseEvent', 'MessageEvent'] as const;

/** Whether this runtime's node:http getters would load an undici that needs WebAssembly. */
export function httpGettersNeedWasm(versions: NodeJS.ProcessVersions = process.versions, hasWasm = 'WebAssembly' in globalThis): boolean {
  const undiciMajor = Number((versions.undici ?? '').split('.')[0]);
  return !hasWasm && Number.isInteger(undiciMajor) && undiciMajor > 0 && undiciMajor < 7;
}

/** Replaces the getters that cannot work here; returns the names replaced (none on Node 20, 24, 26). */
export function disarmHttpGettersWithoutWasm(): string[] {
  if (!httpGettersNeedWasm()) return [];
  // require() of a built-in hands out its exports object without building the ES module view.
  const http = createRequire(import.meta.url)('node:http') as Record<string, unknown>;
  const replaced: string[] = [];
  for (const name of LAZY_UNDICI_EXPORTS) {
    const d = Object.getOwnPropertyDescriptor(http, name);
    if (d?.get === undefined || d.configurable !== true) continue;
    Object.defineProperty(http, name, { value: undefined, writable: true, enumerable: d.enumerable, configurable: true });
    replaced.push(name);
  }
  return replaced;
}
