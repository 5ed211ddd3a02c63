// The terminal's behaviour (spec 6, 6a): approvals, reversals, cancels,
// recovery, health, and the scenarios a test or a technician selects by flag
// or by amount.
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
  /** How the terminal answers a VOID it can run (spec 6a); see VOID_MODES. */
  voidMode: VoidMode;
  /** The acquirer's code of a refused reversal (voidMode 'refuse'). */
  voidRefuseCode: string;
  /** voidMode applies to the first N VOIDs received; later ones are reversed. */
  voidFirst: number;
}

/**
 * What the terminal does with a VOID (after the spec's own order BY, NF, AV,
 * AM, which always applies):
 * - reverse: PROG RCVD, PROG SENT, RSLT 00 with a reversal number;
 * - refuse: the acquirer refuses (voidRefuseCode); the approval stays reversible;
 * - timeout: RSLT TO, and the reversal did go through upstream (a new VOID gets AV);
 * - timeout-lost: RSLT TO, and it did not (a new VOID reverses);
 * - silent: ACK, then no PROG or RSLT on its own; the reversal still runs and
 *   CNCL/LAST of its ref tell the truth (an RSLT lost on the way);
 * - av: as if reversed earlier elsewhere (at the terminal's own menu): AV;
 * - am: AM whatever the amount; nf: NF, as if the approval were settled and forgotten.
 */
export const VOID_MODES = ['reverse', 'refuse', 'timeout', 'timeout-lost', 'silent', 'av', 'am', 'nf'] as const;
export type VoidMode = (typeof VOID_MODES)[number];

/** Approvals kept for reversal (spec 6a: until the daily settlement; here a bound). */
export const REVERSIBLE_APPROVALS = 10_000;

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

const VOID_MESSAGES = {
  reversed: 'VOIDED',
  already: 'ALREADY VOIDED',
  amount: 'AMOUNT MISMATCH',
  refused: 'REVERSAL REFUSED',
} as const;

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
  /** Sends no PROG or RSLT on its own (a silent VOID); asked, it answers. */
  quiet: boolean;
  /** The AUTH's amount; for a VOID, the origRef it reverses. */
  amount: number;
  voidOf: string | undefined;
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

/** An approval the terminal can still reverse, and its reversal once made. */
interface Approval {
  amount: number;
  maskedPan: string;
  reversalNo: string | undefined;
}

export class Terminal {
  private readonly records = new Map<string, AuthRecord>();
  private readonly approvals = new Map<string, Approval>();
  private voidsReceived = 0;
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

  /** Another AUTH or VOID than `except` is open (a silent AUTH is hung, not open). */
  private busyNow(except?: AuthRecord): boolean {
    for (const r of this.records.values()) if (r !== except && r.stage !== 'FINAL' && !r.silent) return true;
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
      ...(m.cmd === 'VOID' ? { origRef: m.origRef, amount: m.amount } : {}),
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
      case 'VOID':
        this.onVoid(m);
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
      const rec = this.remember(m.ref, '', m.amount);
      this.finish(rec, BUSY);
      return;
    }
    const plan = this.plan(m);
    const rec = this.remember(m.ref, m.maskedPan, m.amount);
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

  /** Spec 6a: BY, NF, AV, AM in that order, then the selected behaviour. */
  private onVoid(m: Extract<HostMessage, { cmd: 'VOID' }>): void {
    if (this.records.has(m.ref)) {
      this.onLast(m.ref); // a known ref is not run again (spec 6)
      return;
    }
    this.voidsReceived++;
    const mode: VoidMode = this.voidsReceived <= this.b.voidFirst ? this.b.voidMode : 'reverse';
    const approval = mode === 'nf' ? undefined : this.approvals.get(m.origRef);
    const pan = approval?.maskedPan ?? '';
    const rec = this.remember(m.ref, pan, m.amount, m.origRef);
    if (this.busyNow(rec) || this.b.busy) {
      this.finish(rec, { ...BUSY, maskedPan: pan });
      return;
    }
    if (!approval) {
      this.finish(rec, NOT_FOUND);
      return;
    }
    if (approval.reversalNo === undefined && mode === 'av') approval.reversalNo = this.takeApprovalNo();
    if (approval.reversalNo !== undefined) {
      this.finish(rec, { code: 'AV', approvalNo: approval.reversalNo, maskedPan: pan, message: VOID_MESSAGES.already });
      return;
    }
    if (m.amount !== approval.amount || mode === 'am') {
      this.finish(rec, { code: 'AM', approvalNo: '', maskedPan: pan, message: VOID_MESSAGES.amount });
      return;
    }
    rec.quiet = mode === 'silent';
    this.stage(rec, 'RCVD');
    if (!this.b.omitProg && !rec.quiet) this.link.send(prog(m.ref, 'RCVD'));
    rec.timer = setTimeout(() => {
      this.stage(rec, 'SENT');
      if (!this.b.omitProg && !rec.quiet) this.link.send(prog(rec.ref, 'SENT'));
      rec.timer = setTimeout(() => {
        rec.timer = undefined;
        this.finish(rec, this.reversalOutcome(rec, approval, mode));
      }, this.b.resultDelayMs);
    }, this.b.progSentDelayMs);
  }

  /** The upstream answer to a reversal that went out; one reversal per approval. */
  private reversalOutcome(rec: AuthRecord, approval: Approval, mode: VoidMode): Result {
    const pan = approval.maskedPan;
    if (approval.reversalNo !== undefined) {
      return { code: 'AV', approvalNo: approval.reversalNo, maskedPan: pan, message: VOID_MESSAGES.already };
    }
    switch (mode) {
      case 'refuse':
        return { code: this.b.voidRefuseCode, approvalNo: '', maskedPan: pan, message: VOID_MESSAGES.refused };
      case 'timeout-lost':
        return { code: 'TO', approvalNo: '', maskedPan: pan, message: DECLINE_MESSAGES.TO };
      case 'timeout':
        this.reverse(rec, approval);
        return { code: 'TO', approvalNo: '', maskedPan: pan, message: DECLINE_MESSAGES.TO };
      case 'reverse':
      case 'silent':
      case 'av':
      case 'am':
      case 'nf':
        return { code: '00', approvalNo: this.reverse(rec, approval), maskedPan: pan, message: VOID_MESSAGES.reversed };
    }
  }

  private reverse(rec: AuthRecord, approval: Approval): string {
    const no = this.takeApprovalNo();
    approval.reversalNo = no;
    this.events.emit({ ev: 'reversed', ref: rec.ref, origRef: rec.voidOf, approvalNo: no });
    return no;
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

  private remember(ref: string, maskedPan: string, amount: number, voidOf?: string): AuthRecord {
    const rec: AuthRecord = { ref, stage: 'RCVD', silent: false, quiet: false, amount, voidOf, maskedPan, result: undefined, timer: undefined };
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
    this.events.emit({ ev: 'outcome', ref: rec.ref, code: result.code, ...(rec.voidOf === undefined ? {} : { origRef: rec.voidOf }) });
    if (rec.voidOf === undefined && result.code === '00') this.keepApproval(rec);
    if (!rec.quiet) this.link.send(rslt(rec.ref, result));
  }

  private keepApproval(rec: AuthRecord): void {
    this.approvals.set(rec.ref, { amount: rec.amount, maskedPan: rec.maskedPan, reversalNo: undefined });
    if (this.approvals.size > REVERSIBLE_APPROVALS) {
      const oldest = this.approvals.keys().next();
      if (oldest.done !== true) this.approvals.delete(oldest.value);
    }
  }
}
