// Opening a terminal address that cannot be opened: a real missing device, a
// real file that is no serial port, a real closed TCP port. Each error names
// the errno and says what to check, in the terms of its transport.
import { describe, expect, test } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errnoName, TransportError } from '../../drivers/transport/errors.js';
import { linkHint, openTransport } from '../../drivers/transport/open-transport.js';

async function openError(address: string): Promise<TransportError> {
  try {
    const t = await openTransport(address, { baudRate: 9600, timeoutMs: 5_000 });
    await t.close();
  } catch (err) {
    expect(err).toBeInstanceOf(TransportError);
    return err as TransportError;
  }
  throw new Error(`${address} opened`);
}

/** A TCP port that was free a moment ago: nothing listens on it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('a terminal address that does not open', () => {
  test('a missing device: NOT_FOUND, ENOENT, the USB adapter and the udev rule', async () => {
    const err = await openError('/dev/otcd-terminal-missing');
    expect(err.code).toBe('NOT_FOUND');
    expect(err.errno).toBe('ENOENT');
    expect(err.message).toBe("ENOENT: /dev/otcd-terminal-missing does not exist: the terminal's USB adapter is not plugged in, or the udev rule (99-otcd-terminal.rules, its USB ids) did not name it; check `ls -l /dev/otcd-terminal-missing` and `lsusb`");
  });

  test('a file that is no serial port: ENOTTY, terminal.address', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'otcd-transport-'));
    try {
      await writeFile(join(dir, 'not-a-tty'), '');
      const err = await openError(join(dir, 'not-a-tty'));
      expect(err.code).toBe('OPEN_FAILED');
      expect(err.errno).toBe('ENOTTY');
      expect(err.message).toBe(`ENOTTY: ${join(dir, 'not-a-tty')} is not a serial device: terminal.address must name the terminal's serial port`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a closed TCP port: ECONNREFUSED, in terms of host, port and ser2net, no USB adapter', async () => {
    const address = `tcp://127.0.0.1:${await closedPort()}`;
    const err = await openError(address);
    expect(err.errno).toBe('ECONNREFUSED');
    expect(err.message).toBe(`ECONNREFUSED: nothing listens at ${address}: the terminal (or ser2net) is off, or listens on another port; check terminal.address`);
    expect(err.message).not.toMatch(/USB/);
  });

  test('serialport words errors as text only: the errno is read back from it', () => {
    const cases: Array<[string, string]> = [
      ['Error: No such file or directory, cannot open /dev/x', 'ENOENT'],
      ['Error: Permission denied, cannot open /dev/x', 'EACCES'],
      ['Error: Operation not permitted, cannot open /dev/x', 'EPERM'],
      ['Error Resource temporarily unavailable Cannot lock port', 'EAGAIN'],
      ['Error: Device or resource busy, cannot open /dev/x', 'EBUSY'],
      ['Error: No such device or address, cannot open /dev/x', 'ENXIO'],
      ['Error: No such device, cannot open /dev/x', 'ENODEV'],
    ];
    for (const [message, errno] of cases) expect(errnoName(new Error(message))).toBe(errno);
    expect(errnoName(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(errnoName(new Error(''))).toBeUndefined();
  });

  test('an error with no text at all still says something', () => {
    const err = TransportError.fromOpen('/dev/otcd-terminal', new Error(''));
    expect(err.message).toBe('cannot open /dev/otcd-terminal: Error without a message from the driver');
    const perm = TransportError.fromOpen('/dev/otcd-terminal', new Error('Error: Permission denied, cannot open /dev/otcd-terminal'));
    expect(perm.message).toBe('EACCES: permission denied on /dev/otcd-terminal: the user otcd runs as is not in the device\'s group (dialout, given by the udev rule); check `ls -l /dev/otcd-terminal` and `id otcd`');
  });

  test('link hints fit the transport', () => {
    expect(linkHint('tcp://10.0.0.5:4001')).toBe('check that the terminal (or the ser2net serving it) is on and listening at tcp://10.0.0.5:4001, and the network and firewall between this kiosk and it');
    expect(linkHint('tcp://10.0.0.5:4001')).not.toMatch(/USB|udev|cable/);
    expect(linkHint('/dev/otcd-terminal')).toMatch(/USB adapter/);
    expect(linkHint('/dev/otcd-terminal')).toContain('`ls -l /dev/otcd-terminal`');
  });
});
