/**
 * What the terminal simulator saw, from its event lines: the AUTHs and VOIDs
 * per ref, the outcome it decided per ref, and the reversals per approval. This is the ground truth the chaos run
 * judges the daemon's answers against.
 */
import type { SimEvent } from '../testkit/terminal-sim.js';

export interface SimView {
  /** ref -> AUTH frames acted on (not link-level retransmissions). */
  authsByRef: Map<string, number>;
  /** ref -> amount of its first AUTH. */
  amountByRef: Map<string, number>;
  /** ref -> the one outcome the terminal decided (00, 51, TO, BY, CN, ...). */
  outcomeByRef: Map<string, string>;
  /** ref -> latest stage (RCVD, SENT). */
  stageByRef: Map<string, string>;
  /** VOID ref -> VOID frames acted on, and the AUTH ref it reverses. */
  voidsByRef: Map<string, number>;
  origRefOfVoid: Map<string, string>;
  /** AUTH ref -> reversals the terminal made of its approval (at most 1). */
  reversalsByOrigRef: Map<string, number>;
}

export function simView(events: readonly SimEvent[]): SimView {
  const view: SimView = {
    authsByRef: new Map(), amountByRef: new Map(), outcomeByRef: new Map(), stageByRef: new Map(),
    voidsByRef: new Map(), origRefOfVoid: new Map(), reversalsByOrigRef: new Map(),
  };
  for (const e of events) {
    if (e.ev === 'rx' && e.cmd === 'AUTH' && e.dup !== true && typeof e.ref === 'string') {
      view.authsByRef.set(e.ref, (view.authsByRef.get(e.ref) ?? 0) + 1);
      if (!view.amountByRef.has(e.ref) && typeof e.amount === 'number') view.amountByRef.set(e.ref, e.amount);
    } else if (e.ev === 'rx' && e.cmd === 'VOID' && e.dup !== true && typeof e.ref === 'string') {
      view.voidsByRef.set(e.ref, (view.voidsByRef.get(e.ref) ?? 0) + 1);
      if (typeof e.origRef === 'string' && !view.origRefOfVoid.has(e.ref)) view.origRefOfVoid.set(e.ref, e.origRef);
    } else if (e.ev === 'reversed' && typeof e.origRef === 'string') {
      view.reversalsByOrigRef.set(e.origRef, (view.reversalsByOrigRef.get(e.origRef) ?? 0) + 1);
    } else if (e.ev === 'outcome' && typeof e.ref === 'string' && typeof e.code === 'string') {
      if (!view.outcomeByRef.has(e.ref)) view.outcomeByRef.set(e.ref, e.code);
    } else if (e.ev === 'stage' && typeof e.ref === 'string' && typeof e.stage === 'string') {
      view.stageByRef.set(e.ref, e.stage);
    }
  }
  return view;
}

/** Outcome codes that mean the card may have been charged. */
export const CHARGED_OR_MAYBE = new Set(['00', '51', 'TO']);

/**
 * The daemon's final state that matches a terminal outcome when the daemon
 * learned it (live or by LAST): 00 approved, 51 declined, TO unknown; the
 * codes that say the card data never went upstream end a payment failed,
 * cancelled or expired (or a fresh attempt follows).
 */
export function stateForOutcome(code: string): string[] {
  switch (code) {
    case '00': return ['approved', 'voided'];
    case 'TO': return ['unknown'];
    case 'BY': case 'CN': case 'NF': case 'IV': return ['failed', 'cancelled', 'expired'];
    default: return ['declined'];
  }
}
