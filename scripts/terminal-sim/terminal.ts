// The terminal's behaviour (spec 6): approvals, cancels, recovery, health, and
// the scenarios a test or a technician selects by flag or by amount.
import { randomInt } from 'node:crypto';
import type { EventLog } from './events.js';
import type { Outgoing, TerminalLink } from './link.js';
import { parseHostMessage, type HostMessage } from './messages.js';

/** How the terminal behaves; every field has a command-line flag. */
export interface Behaviour {
  terminalId: string;
  busy: boolean;
  /** Decline every approval with this code (amount scenarios still win). */
  decline: string | undefined;
  omitProg: boolean;
  progSentDelayMs: number;
  resultDelayMs: number;
  slowMs: number;
  /** The first N AUTHs taken are slow (PROG SENT after slowMs), whatever their amount. */
  slowFirst: number;
  dropMidFrame: boolean;
  silentAfterAuth: boolean;
  /** First approval number; later ones count up. Random when undefined. */
  approvalNo: number | undefined;
}

/** Scenarios chosen by the last three digits of the amount (see --help). */
export const AMOUNT_SCENARIOS = {
  approve: 0,
  decline51: 51,
  busy: 99,
  slow: 77,
  silent: 66,
  timeout: 44,
  omitProg: 33,
} as const;
const AMOUNT_SCENARIO_MODULO = 1000;

/** Outcomes remembered for LAST and CNCL: the spec asks for at least 16. */
export const REMEMBERED_OUTCOMES = 64;

const APPROVAL_NO_DIGITS = 8;
const APPROVAL_NO_MODULO = 10 ** APPROVAL_NO_DIGITS;

export const DECLINE_MESSAGES: Record<string, string> = {
  '05': 'DO NOT HONOUR',
  '14': 'INVALID CARD NUMBER',
  '51': 'INSUFFICIENT FUNDS',
  '54': 'EXPIRED CARD',
  '55': 'INCORRECT PIN',
  TO: 'TIMED OUT UPSTREAM',
};

type Stage = 'RCVD' | 'SENT' | 'FINAL';

/** RSLT fields after ref: code, approvalNo, maskedPan, message. */
interface Result {
  code: string;
  approvalNo: string;
  maskedPan: string;
  message: string;
}

interface AuthRecord {
  ref: string;
  stage: Stage;
  /** A silent AUTH never progresses and does not make the terminal busy. */
  silent: boolean;
  maskedPan: string;
  result: Result | undefined;
  timer: NodeJS.Timeout | undefined;
}

interface Plan {
  silent: boolean;
  omitProg: boolean;
  sentDelayMs: number;
  result: Result;
}

function rslt(ref: string, r: Result): Outgoing {
  return {
    cmd: 'RSLT',
    fields: [ref, r.code, r.approvalNo, r.maskedPan, r.message],
    meta: { ref, code: r.code },
  };
}

function prog(ref: string, stage: 'RCVD' | 'SENT'): Outgoing {
  return { cmd: 'PROG', fields: [ref, stage], meta: { ref, stage } };
}

const BUSY: Result = { code: 'BY', approvalNo: '', maskedPan: '', message: 'TERMINAL BUSY' };
const NOT_FOUND: Result = { code: 'NF', approvalNo: '', maskedPan: '', message: '' };

export class Terminal {
  private readonly records = new Map<string, AuthRecord>();
  private nextApprovalNo: number;
  private dropDone = false;
  private authsPlanned = 0;

  constructor(
    private readonly link: TerminalLink,
    private readonly events: EventLog,
    private readonly b: Behaviour,
    /** Called after the drop-mid-frame fault broke the wire. */
    private readonly afterDrop: () => void,
  ) {
    this.nextApprovalNo = b.approvalNo ?? randomInt(0, APPROVAL_NO_MODULO);
    link.setFrameHandler((body, dup) => this.onFrame(body, dup));
  }

  /** Timers die with the simulator. */
  stop(): void {
    for (const r of this.records.values()) if (r.timer) clearTimeout(r.timer);
  }

  private busyNow(): boolean {
    for (const r of this.records.values()) if (r.stage !== 'FINAL' && !r.silent) return true;
    return false;
  }

  private onFrame(body: Buffer, dup: boolean): void {
    const parsed = parseHostMessage(body);
    if (!parsed.ok) {
      this.events.emit({ ev: 'rx', seq: parsed.seq, cmd: parsed.cmd ?? null, dup, invalid: parsed.problem });
      if (!dup) this.link.send(rslt('', { code: 'IV', approvalNo: '', maskedPan: '', message: parsed.problem }));
      return;
    }
    const m = parsed.msg;
    this.events.emit({
      ev: 'rx', seq: parsed.seq, cmd: m.cmd, dup,
      ...('ref' in m ? { ref: m.ref } : {}),
      ...(m.cmd === 'AUTH' ? { amount: m.amount, installment: m.installment, maskedPan: m.maskedPan } : {}),
    });
    if (dup) return; // acknowledged again by the link, not acted on twice
    switch (m.cmd) {
      case 'PING':
        // Ahead of queued frames: PONG is due within 1 s of the frame in flight.
        this.link.send({
          cmd: 'PONG', fields: [this.b.terminalId, this.busyNow() ? 'BUSY' : 'IDLE'],
          meta: { state: this.busyNow() ? 'BUSY' : 'IDLE' },
        }, true);
        return;
      case 'AUTH':
        this.onAuth(m);
        return;
      case 'CNCL':
        this.onCancel(m.ref);
        return;
      case 'LAST':
        this.onLast(m.ref);
        return;
    }
  }

  private onAuth(m: Extract<HostMessage, { cmd: 'AUTH' }>): void {
    if (this.records.has(m.ref)) {
      this.onLast(m.ref); // a known ref is not run again (spec 6)
      return;
    }
    if (this.busyNow() || this.b.busy || m.amount % AMOUNT_SCENARIO_MODULO === AMOUNT_SCENARIOS.busy) {
      // Not taken: the card data was not looked at, so no masked PAN either.
      const rec = this.remember(m.ref, '');
      this.finish(rec, BUSY);
      return;
    }
    const plan = this.plan(m);
    const rec = this.remember(m.ref, m.maskedPan);
    rec.silent = plan.silent;
    this.stage(rec, 'RCVD');
    if (this.b.dropMidFrame && !this.dropDone) {
      this.dropDone = true;
      void this.link.sendHalfThenDrop(prog(m.ref, 'RCVD')).then(this.afterDrop);
    } else if (!plan.omitProg && !plan.silent) {
      this.link.send(prog(m.ref, 'RCVD'));
    }
    if (plan.silent) return;
    rec.timer = setTimeout(() => {
      this.stage(rec, 'SENT');
      if (!plan.omitProg) this.link.send(prog(rec.ref, 'SENT'));
      rec.timer = setTimeout(() => {
        rec.timer = undefined;
        this.finish(rec, plan.result);
      }, this.b.resultDelayMs);
    }, plan.sentDelayMs);
  }

  private plan(m: Extract<HostMessage, { cmd: 'AUTH' }>): Plan {
    const scenario = m.amount % AMOUNT_SCENARIO_MODULO;
    this.authsPlanned++;
    const slow = scenario === AMOUNT_SCENARIOS.slow || this.authsPlanned <= this.b.slowFirst;
    let result: Result;
    if (scenario === AMOUNT_SCENARIOS.decline51) {
      result = { code: '51', approvalNo: '', maskedPan: m.maskedPan, message: DECLINE_MESSAGES['51'] };
    } else if (scenario === AMOUNT_SCENARIOS.timeout) {
      result = { code: 'TO', approvalNo: '', maskedPan: m.maskedPan, message: DECLINE_MESSAGES.TO };
    } else if (this.b.decline !== undefined) {
      result = { code: this.b.decline, approvalNo: '', maskedPan: m.maskedPan, message: DECLINE_MESSAGES[this.b.decline] ?? 'DECLINED' };
    } else {
      result = { code: '00', approvalNo: this.takeApprovalNo(), maskedPan: m.maskedPan, message: 'APPROVED' };
    }
    return {
      silent: this.b.silentAfterAuth || scenario === AMOUNT_SCENARIOS.silent,
      omitProg: this.b.omitProg || scenario === AMOUNT_SCENARIOS.omitProg,
      sentDelayMs: slow ? this.b.slowMs : this.b.progSentDelayMs,
      result,
    };
  }

  private takeApprovalNo(): string {
    const n = this.nextApprovalNo;
    this.nextApprovalNo = (this.nextApprovalNo + 1) % APPROVAL_NO_MODULO;
    return String(n).padStart(APPROVAL_NO_DIGITS, '0');
  }

  private onCancel(ref: string): void {
    const rec = this.records.get(ref);
    if (!rec) {
      this.link.send(rslt(ref, NOT_FOUND));
    } else if (rec.result) {
      this.link.send(rslt(ref, rec.result));
    } else if (rec.silent) {
      this.link.send(prog(ref, 'RCVD')); // hung: it cannot even cancel
    } else if (rec.stage === 'RCVD') {
      if (rec.timer) clearTimeout(rec.timer);
      rec.timer = undefined;
      this.finish(rec, { code: 'CN', approvalNo: '', maskedPan: rec.maskedPan, message: 'CANCELLED' });
    } else {
      this.link.send(prog(ref, 'SENT')); // too late: the real RSLT follows
    }
  }

  private onLast(ref: string): void {
    const rec = this.records.get(ref);
    if (!rec) this.link.send(rslt(ref, NOT_FOUND));
    else if (rec.result) this.link.send(rslt(ref, rec.result));
    else this.link.send(prog(ref, rec.stage === 'SENT' ? 'SENT' : 'RCVD'));
  }

  private remember(ref: string, maskedPan: string): AuthRecord {
    const rec: AuthRecord = { ref, stage: 'RCVD', silent: false, maskedPan, result: undefined, timer: undefined };
    this.records.set(ref, rec);
    // Forget the oldest finished outcomes beyond the ones we promise to keep.
    for (const [k, r] of this.records) {
      if (this.records.size <= REMEMBERED_OUTCOMES) break;
      if (r.stage === 'FINAL' || r.silent) this.records.delete(k);
    }
    return rec;
  }

  private stage(rec: AuthRecord, stage: 'RCVD' | 'SENT'): void {
    rec.stage = stage;
    this.events.emit({ ev: 'stage', ref: rec.ref, stage });
  }

  /** One outcome per ref: set once, then only repeated. */
  private finish(rec: AuthRecord, result: Result): void {
    rec.stage = 'FINAL';
    rec.result = result;
    this.events.emit({ ev: 'outcome', ref: rec.ref, code: result.code });
    this.link.send(rslt(rec.ref, result));
  }
}
