// otcctl status's verdict from the daemon's health answer: OK, or DEGRADED
// with each reason and what to do; fields an older daemon lacks count as fine.
import { describe, expect, test } from '@jest/globals';
import { renderStatus } from '../../daemon/cli/status.js';
import { statusVerdict } from '../../daemon/cli/status-verdict.js';
import { healthView, type StatusHealth } from '../../daemon/cli/views.js';

const NOW = Date.parse('2026-12-06T10:30:00Z');

/** A health answer as the daemon sends it (JSON), read through otcctl's own view. */
function health(patch: { terminal?: Record<string, unknown>; provider?: Record<string, unknown>; unresolved?: unknown; unresolvedVoids?: unknown } = {}): StatusHealth {
  const raw = {
    version: '0.1.0', uptimeS: 600,
    terminal: { link: 'up', address: '/dev/otcd-terminal', terminalId: 'T01', lastPong: '2026-12-06T10:29:50Z', counters: { framesSent: 3 }, ...patch.terminal },
    provider: { baseUrl: 'https://otc.example', lastSuccess: '2026-12-06T10:20:00.000Z', ...patch.provider },
    keys: { ready: 2 },
    ...(patch.unresolved !== undefined ? { unresolved: patch.unresolved } : {}),
    ...(patch.unresolvedVoids !== undefined ? { unresolvedVoids: patch.unresolvedVoids } : {}),
  };
  const view = healthView(JSON.parse(JSON.stringify(raw)));
  if (!view) throw new Error('health view refused');
  return view;
}

describe('status verdict', () => {
  test('all good: link up, provider last succeeded, nothing unresolved (or no such field yet)', () => {
    expect(statusVerdict(health())).toEqual({ state: 'ok', reasons: [] });
    expect(statusVerdict(health({ unresolved: { count: 0 } }))).toEqual({ state: 'ok', reasons: [] });
    // an error older than the last success is history, not a degradation
    expect(statusVerdict(health({ provider: { lastError: { code: 'PROVIDER_TIMEOUT', message: 'slow', at: '2026-12-06T10:10:00.000Z' } } })).state).toBe('ok');
    expect(renderStatus(health(), NOW)).toMatch(/^state +OK$/m);
  });

  test('terminal down: serial hint by default, the daemon\'s own hint when it sends one', () => {
    const serial = statusVerdict(health({ terminal: { link: 'down' } }));
    expect(serial.state).toBe('degraded');
    expect(serial.reasons).toEqual([{ code: 'TERMINAL_DOWN', message: expect.stringMatching(/^the terminal link is down at \/dev\/otcd-terminal; payments fail until it is back: check the terminal's power and cable, that its USB adapter is plugged in/) }]);
    const tcp = statusVerdict(health({ terminal: { link: 'down', address: 'tcp://10.0.0.5:4001' } }));
    expect(tcp.reasons[0]?.message).toContain('ser2net');
    expect(tcp.reasons[0]?.message).not.toContain('USB');
    const hinted = statusVerdict(health({ terminal: { link: 'down', hint: 'check the cable in bay 3' } }));
    expect(hinted.reasons[0]?.message).toMatch(/: check the cable in bay 3$/);
  });

  test('terminal not answering (port open)', () => {
    const v = statusVerdict(health({ terminal: { link: 'not_answering' } }));
    expect(v.reasons.map((r) => r.code)).toEqual(['TERMINAL_NOT_ANSWERING']);
    expect(v.reasons[0]?.message).toMatch(/does not answer \(the port is open\).*baud rate/);
    expect(renderStatus(health({ terminal: { link: 'not_answering' } }), NOW)).toMatch(/^terminal +NOT ANSWERING \(port open at \/dev\/otcd-terminal\)$/m);
  });

  test('a link state this otcctl does not know is not "up"', () => {
    expect(statusVerdict(health({ terminal: { link: 'exploded' } })).reasons.map((r) => r.code)).toEqual(['TERMINAL_DOWN']);
  });

  test('provider failing: last error newer than the last success, or no success at all', () => {
    const lastError = { code: 'PROVIDER_UNREACHABLE', message: 'Could not reach the provider', at: '2026-12-06T10:25:00.000Z' };
    expect(statusVerdict(health({ provider: { lastError } })).reasons).toEqual([{ code: 'PROVIDER_FAILING', message: expect.stringContaining('the last OTC inquiry failed (PROVIDER_UNREACHABLE) and none has succeeded since') }]);
    expect(statusVerdict(health({ provider: { lastError, lastSuccess: undefined } })).reasons.map((r) => r.code)).toEqual(['PROVIDER_FAILING']);
  });

  test('unresolved payments: the count, the oldest, reconcile with the acquirer, otcctl payments --unresolved', () => {
    const v = statusVerdict(health({ unresolved: { count: 2, oldest: { intentId: 'order-20261206-000123', at: '2026-12-06T09:12:00.000Z' } } }));
    expect(v.reasons).toEqual([{
      code: 'UNRESOLVED_PAYMENTS',
      message: '2 payment(s) with an unknown outcome; the oldest is order-20261206-000123, from 2026-12-06T09:12:00.000Z: reconcile each with the acquirer before charging the customer again; `otcctl payments --unresolved` lists them',
    }]);
    // a malformed field is ignored, not trusted
    expect(statusVerdict(health({ unresolved: { count: 'many' } })).state).toBe('ok');
  });

  test('voids with an unknown outcome: the count, the oldest, void again, otcctl payments --unresolved', () => {
    const v = statusVerdict(health({ unresolvedVoids: { count: 1, oldest: { intentId: 'order-20261206-000130', at: '2026-12-06T09:40:00.000Z' } } }));
    expect(v).toEqual({ state: 'degraded', reasons: [{ code: 'UNRESOLVED_VOIDS', message: expect.stringContaining('1 void(s) with an unknown outcome (the money may not have gone back); the oldest is order-20261206-000130, since 2026-12-06T09:40:00.000Z') }] });
    expect(v.reasons[0].message).toContain('otcctl void --intent-id order-20261206-000130');
    expect(v.reasons[0].message).toContain('`otcctl payments --unresolved` lists them');
    expect(statusVerdict(health({ unresolvedVoids: { count: 0 } })).state).toBe('ok');
    expect(statusVerdict(health({ unresolvedVoids: { count: -1 } })).state).toBe('ok');
    expect(renderStatus(health({ unresolvedVoids: { count: 1 } }), NOW)).toMatch(/^voids +1 with an unknown outcome$/m);
  });

  test('every reason at once: each on its own line under state DEGRADED', () => {
    const h = health({
      terminal: { link: 'down', address: 'tcp://10.0.0.5:4001' },
      provider: { lastError: { code: 'PROVIDER_TLS', message: 'certificate expired', at: '2026-12-06T10:25:00.000Z' } },
      unresolved: { count: 1, oldest: { intentId: 'otcctl-20261206-101530-3a5ba6', at: '2026-12-06T10:15:30.000Z' } },
    });
    const text = renderStatus(h, NOW);
    expect(text).toMatch(/^state +DEGRADED \(3 thing\(s\) to fix\)$/m);
    const reasons = text.split('\n').filter((l) => l.startsWith('  - '));
    expect(reasons).toHaveLength(3);
    expect(text).toMatch(/^unresolved +1$/m);
    process.stdout.write(`otcctl status, degraded three ways (rendered from a health answer):\n${text}\n`);
  });
});
