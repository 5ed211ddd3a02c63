/**
 * What the payment engine needs from the terminal driver, the provider client
 * and the key pool: the narrow edges of the layers below, so the engine reads
 * as policy and its unit tests can drive a 180-second story with a
 * ManualClock. In the daemon they are the real `Terminal`, `OtcClient` and
 * `KeyPool`.
 */
export type TerminalStage = 'RCVD' | 'SENT';

export interface TerminalResult {
  kind: 'result';
  ref: string;
  code: string;
  approvalNo: string;
  maskedPan: string;
  message: string;
}

export type TerminalAnswer = { kind: 'progress'; ref: string; stage: TerminalStage } | TerminalResult;

export interface TerminalPort {
  readonly isUp: boolean;
  authorize(req: { ref: string; amount: number; installment: number; track2: Buffer }): Promise<void>;
  /** VOID (terminal-protocol.md 6a): resolves on the terminal's ACK; the outcome comes as a result. */
  void(req: { ref: string; origRef: string; amount: number }): Promise<void>;
  cancel(ref: string): Promise<TerminalAnswer>;
  last(ref: string): Promise<TerminalAnswer>;
  on(event: 'progress', listener: (p: { ref: string; stage: TerminalStage }) => void): unknown;
  on(event: 'result', listener: (r: TerminalResult) => void): unknown;
  on(event: 'invalid', listener: (i: { message: string }) => void): unknown;
  on(event: 'up', listener: () => void): unknown;
  on(event: 'down', listener: (reason: string) => void): unknown;
  off(event: string, listener: (...args: never[]) => void): unknown;
}

/** Whether the terminal is there and answering (daemon/terminal/health.ts). */
export interface TerminalReadinessPort {
  /** True once the terminal is up and answering; false after `withinMs` or when `signal` aborts. */
  waitAnswering(withinMs: number, signal?: AbortSignal): Promise<boolean>;
}

export interface OtcKeyPairPort {
  readonly publicKeyBase64: string;
  decryptTrack2(encOtcBase64: string): Buffer;
  destroy(): void;
}

export interface KeySourcePort {
  take(): Promise<OtcKeyPairPort>;
  readonly readyCount: number;
}

export interface ProviderPort {
  inquire(
    authorizationId: string,
    publicKeyBase64: string,
    opts?: { deadline?: number; signal?: AbortSignal },
  ): Promise<{ encOtc: string }>;
}
