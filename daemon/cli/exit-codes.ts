/**
 * otcctl's exit codes: what a script (or a commissioning checklist) acts on.
 * 64 and 78 are EX_USAGE and EX_CONFIG from sysexits.h, as otcd uses them.
 */
export const EXIT = {
  /** Done; for `pay`: approved. */
  OK: 0,
  /** `pay`: not approved (declined, cancelled, expired, failed) or refused; other commands: otcd answered with an error. */
  NOT_APPROVED: 1,
  /** `pay`: the outcome is not known (needs reconciliation, or otcctl lost the daemon before the end). */
  UNKNOWN: 2,
  /** otcd not running, or permission denied on its socket or ledger. */
  UNREACHABLE: 3,
  /** `status`: otcd runs but is degraded (terminal down or not answering, provider failing, unresolved payments or voids). */
  DEGRADED: 4,
  /** A bug in otcctl (EX_SOFTWARE). */
  INTERNAL: 70,
  USAGE: 64,
  CONFIG: 78,
} as const;

export const EXIT_CODES_HELP = `exit codes:
  0   ok; pay: approved
  1   pay: not approved (declined, cancelled, expired, failed) or refused (BUSY, CONFLICT);
      other commands: otcd answered with an error (e.g. the terminal did not answer the PING)
  2   pay: outcome unknown, needs reconciliation (or otcctl lost otcd before the end)
  3   otcd not reachable, or permission denied on its socket or ledger
  4   status: otcd runs but is degraded (terminal down or not answering, provider
      failing, unresolved payments or voids); each reason is printed with what to do
  64  usage error
  78  configuration error`;
