/**
 * The STATUS= line `systemctl status otcd` shows: the terminal link's state
 * and the last payment's outcome, sent only when its text changes (each
 * message is a systemd-notify process).
 *
 * None before READY=1: the terminal link usually changes during start, and a
 * STATUS= sent then would queue one or two systemd-notify runs in front of
 * READY=1; READY=1 carries the line of its moment instead.
 */
import type { LinkState } from '../terminal/health.js';

export interface StatusFacts {
  link: LinkState;
  address: string;
  terminalId: string | undefined;
  lastOutcome: string;
}

export function statusLine(facts: StatusFacts): string {
  const link = facts.link === 'up'
    ? `terminal up${facts.terminalId ? ` (${facts.terminalId})` : ''}`
    : facts.link === 'not_answering'
      ? `terminal NOT ANSWERING at ${facts.address}`
      : `terminal DOWN at ${facts.address}`;
  return `Ready; ${link}; last payment: ${facts.lastOutcome}`;
}

export class StatusLine {
  private last = '';
  private ready = false;
  private frozen = false;

  constructor(private readonly send: (line: string) => void) {}

  /** The line READY=1 carries; from then on changes are sent. */
  atReady(facts: StatusFacts): string {
    this.ready = true;
    this.last = statusLine(facts);
    return this.last;
  }

  update(facts: StatusFacts): void {
    if (!this.ready || this.frozen) return;
    const line = statusLine(facts);
    if (line === this.last) return;
    this.last = line;
    this.send(line);
  }

  /** STOPPING's own status line stays. */
  freeze(): void {
    this.frozen = true;
  }
}
