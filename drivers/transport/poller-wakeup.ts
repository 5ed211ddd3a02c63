/**
 * Keeps serialport's reads prompt on Node 26.4 and later.
 *
 * serialport (@serialport/bindings-cpp 13.0.x, the newest release) reads a
 * Linux port with non-blocking read(2); on EAGAIN it awaits the native
 * poller's 'readable' event (a uv_poll), then reads again. The poller calls
 * into JS with Napi::Function::Call, outside any callback scope, and only a
 * callback scope's end runs queued promise continuations. Since Node 26.4
 * (nodejs/node#62969) nothing else runs them on this path, so the continuation
 * after `await readable()` waits for the next unrelated timer or I/O callback.
 *
 * Measured on a socat pty pair, Node 26.10, quiet machine:
 * `node dist/scripts/bench-link.js 30` gave AUTH -> ACK median 502 ms, p99
 * 1005 ms (the transport's 500 ms presence timer was what woke it; the
 * spec's T_ack is 1000 ms); a bare SerialPort echo with no timers at all
 * stalled 8 to 30 s per byte. Node 20, 22 and 24: 1 to 5 ms.
 *
 * The upstream fix (delivering poller events with MakeCallback,
 * serialport/bindings-cpp PR #239) is unreleased. Until it ships, each poller
 * event also schedules an empty setImmediate: Node runs it in the check phase
 * right after the poll phase, inside a callback scope, whose end runs the
 * waiting continuation. Where the bug is absent this costs one no-op per event.
 */
import type { SerialPort } from 'serialport';

/** The part of bindings-cpp's Unix port binding this relies on (not in its types). */
interface PolledBinding {
  poller?: { on(event: string, listener: () => void): unknown };
}

const POLLER_EVENTS = ['readable', 'writable', 'disconnect'] as const;

function wakeNode(): void {
  setImmediate(() => undefined);
}

/**
 * Call once, right after `port` opened. `on` (unlike the poller's `once`)
 * does not arm a poll, so this only listens. A binding without a poller
 * (Windows, a mock binding) is left alone.
 */
export function wakeOnPollerEvents(port: SerialPort): void {
  const poller = (port.port as PolledBinding | undefined)?.poller;
  if (typeof poller?.on !== 'function') return;
  for (const event of POLLER_EVENTS) poller.on(event, wakeNode);
}
