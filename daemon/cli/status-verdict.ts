/**
 * `otcctl status`'s verdict, in the manner of `systemctl is-system-running`:
 * all good, or degraded with each reason and what to do about it. A field
 * an older daemon does not send (terminal `not_answering`, `unresolved`,
 * `unresolvedVoids`) counts as fine.
 */
import { linkHint, silenceHint } from '../../drivers/transport/open-transport.js';
import type { StatusHealth } from './views.js';

export type DegradedCode = 'TERMINAL_DOWN' | 'TERMINAL_NOT_ANSWERING' | 'PROVIDER_FAILING' | 'UNRESOLVED_PAYMENTS' | 'UNRESOLVED_VOIDS';

export interface DegradedReason {
  code: DegradedCode;
  /** What is wrong and what to do, in one or two sentences. */
  message: string;
}

export interface Verdict {
  state: 'ok' | 'degraded';
  reasons: DegradedReason[];
}

export function statusVerdict(h: StatusHealth): Verdict {
  const reasons: DegradedReason[] = [];
  const t = h.terminal;
  if (t.link === 'down') {
    reasons.push({
      code: 'TERMINAL_DOWN',
      message: `the terminal link is down at ${t.address}; payments fail until it is back: ${t.hint ?? linkHint(t.address)}`,
    });
  } else if (t.link === 'not_answering') {
    reasons.push({
      code: 'TERMINAL_NOT_ANSWERING',
      message: `the terminal at ${t.address} does not answer (the port is open); payments fail until it does: ${t.hint ?? silenceHint(t.address)}`,
    });
  }
  const failing = providerFailingSince(h);
  if (failing !== undefined) {
    reasons.push({
      code: 'PROVIDER_FAILING',
      message: `the last OTC inquiry failed (${failing}) and none has succeeded since; payments fail until one does: "last error" says what to check, \`journalctl -u otcd -p warning\` has each failure`,
    });
  }
  const unresolved = h.unresolved;
  if (unresolved && unresolved.count > 0) {
    const oldest = unresolved.oldest ? `; the oldest is ${unresolved.oldest.intentId}, from ${unresolved.oldest.at}` : '';
    reasons.push({
      code: 'UNRESOLVED_PAYMENTS',
      message: `${unresolved.count} payment(s) with an unknown outcome${oldest}: reconcile each with the acquirer before charging the customer again; \`otcctl payments --unresolved\` lists them`,
    });
  }
  const voids = h.unresolvedVoids;
  if (voids && voids.count > 0) {
    const oldest = voids.oldest ? `; the oldest is ${voids.oldest.intentId}, since ${voids.oldest.at}` : '';
    const again = voids.oldest ? `otcctl void --intent-id ${voids.oldest.intentId}` : 'otcctl void --intent-id ID';
    reasons.push({
      code: 'UNRESOLVED_VOIDS',
      message: `${voids.count} void(s) with an unknown outcome (the money may not have gone back)${oldest}: `
        + `otcd asks the terminal about those still "asking"; void the others again (${again}): the terminal reverses once at most `
        + 'and answers AV if the first went through; `otcctl payments --unresolved` lists them',
    });
  }
  return { state: reasons.length === 0 ? 'ok' : 'degraded', reasons };
}

/** The provider's last error code, if it is more recent than its last success. */
function providerFailingSince(h: StatusHealth): string | undefined {
  const err = h.provider.lastError;
  if (!err) return undefined;
  const errorAt = Date.parse(err.at);
  const successAt = h.provider.lastSuccess !== undefined ? Date.parse(h.provider.lastSuccess) : Number.NEGATIVE_INFINITY;
  if (Number.isNaN(errorAt)) return undefined;
  return errorAt > successAt || Number.isNaN(successAt) ? err.code : undefined;
}
