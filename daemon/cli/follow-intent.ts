/**
 * Following one request (a pay or a void) on the intent socket to its end,
 * as `otcctl pay` and `otcctl void` do: send it, show every message in
 * arrival order, and settle on the first reply or event that says the intent
 * has ended. Ctrl-C (or SIGTERM) sends one `cancel` for the intent, after the
 * request's reply so the daemon knows the intent, and keeps waiting; a second
 * one stops waiting. A lost connection ends the wait as "not known here".
 */
import type { DaemonMessage, IntentClient } from '../client/intent-client.js';
import { EXIT } from './exit-codes.js';
import { errorView, eventView, intentView, type EventSummary, type IntentSummary } from './views.js';

export type Interrupt = 'SIGINT' | 'SIGTERM';

/** The correlation id of the one cancel a follow may send. */
export const CANCEL_REQ = 'cancel';

export interface FollowedRequest {
  /** The request line's fields, `op` and `req` included. */
  line: { op: string; req: string; intentId: string } & Record<string, unknown>;
  /** Every message from otcd, before it is looked at. */
  show(m: DaemonMessage): void;
  /** Something otcctl itself says (stderr). */
  note(text: string): void;
  /** The exit code when otcd refuses the request with this error code. */
  refused(code: string | undefined): number;
  /** The exit code once the intent (from the reply or an event) has ended; undefined while it goes on. */
  ended(view: IntentSummary | EventSummary): number | undefined;
  /** What the notes say on the first interrupt, on the second, and when otcd is lost. */
  words: {
    cancelling(signal: Interrupt): string;
    stoppedWaiting: string;
    lost(reason: string): string;
  };
}

/** Sends `request.line` and resolves with the exit code of the intent's end. */
export async function followIntent(client: IntentClient, request: FollowedRequest): Promise<number> {
  const { intentId, req } = request.line;
  let replied = false;
  let cancelWanted = false;
  let cancelSent = false;
  let ending = false;
  let settle: (code: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => { settle = resolve; });

  const sendCancel = (): void => {
    if (cancelSent) return;
    cancelSent = true;
    try {
      client.sendLine(JSON.stringify({ op: 'cancel', req: CANCEL_REQ, intentId }));
    } catch {
      // The connection is gone; the close handler below reports it.
    }
  };
  const settleIfEnded = (view: IntentSummary | EventSummary | undefined): void => {
    const code = view && request.ended(view);
    if (code !== undefined) settle(code);
  };

  client.onMessage = (m: DaemonMessage) => {
    request.show(m);
    if (m.req === req) {
      if (m.type === 'error') {
        settle(request.refused(errorView(m)?.code));
        return;
      }
      replied = true;
      settleIfEnded(intentView(m.intent));
      if (cancelWanted) sendCancel();
      return;
    }
    if (m.type === 'event' && m.intentId === intentId) settleIfEnded(eventView(m));
  };

  let interrupts = 0;
  const onInterrupt = (signal: Interrupt): void => {
    interrupts += 1;
    if (interrupts === 1) {
      request.note(request.words.cancelling(signal));
      cancelWanted = true;
      if (replied) sendCancel();
      return;
    }
    request.note(request.words.stoppedWaiting);
    settle(EXIT.UNKNOWN);
  };
  const onSigint = (): void => onInterrupt('SIGINT');
  const onSigterm = (): void => onInterrupt('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  // A waiter that accepts nothing rejects when the connection ends.
  const closed = client.next(() => false).then(() => EXIT.UNKNOWN, (err: Error) => {
    if (!ending) request.note(request.words.lost(err.message));
    return EXIT.UNKNOWN;
  });

  try {
    client.sendLine(JSON.stringify(request.line));
    return await Promise.race([finished, closed]);
  } finally {
    ending = true;
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    client.onMessage = undefined;
    client.close();
  }
}
