/**
 * One entry point for every terminal address:
 *   '/dev/ttyUSB0', '/dev/serial/by-id/...', a pty link  -> serial port
 *   'tcp://host:port'                                     -> TCP connection
 */
import type { Clock } from '../clock.js';
import type { ByteTransport } from './transport.js';
import { SerialTransport } from './serial.js';
import { TcpTransport } from './tcp.js';
import { TransportError } from './errors.js';
import { isTcpAddress } from './address.js';

export type { ByteTransport } from './transport.js';
export { TransportError } from './errors.js';
export { BAUD_RATES, DEFAULT_BAUD_RATE } from './serial.js';
export { linkHint, silenceHint } from './link-hint.js';

export interface OpenTransportOptions {
  baudRate?: number;
  clock?: Clock;
  timeoutMs?: number;
}

const PORT_MAX = 65535;

export function openTransport(address: string, opts: OpenTransportOptions = {}): Promise<ByteTransport> {
  if (isTcpAddress(address)) {
    let url: URL;
    try {
      url = new URL(address);
    } catch {
      return Promise.reject(new TransportError('BAD_ADDRESS', `${address} is not tcp://host:port`));
    }
    const port = Number(url.port);
    if (!url.hostname || !Number.isInteger(port) || port < 1 || port > PORT_MAX) {
      return Promise.reject(new TransportError('BAD_ADDRESS', `${address} is not tcp://host:port`));
    }
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    return TcpTransport.open(address, host, port, opts);
  }
  if (!address.startsWith('/')) {
    return Promise.reject(new TransportError('BAD_ADDRESS', `${address} is neither an absolute device path nor tcp://host:port`));
  }
  return SerialTransport.open(address, opts);
}
