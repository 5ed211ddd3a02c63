/**
 * What a technician should check when the terminal link is down, in the
 * terms of its transport: a serial device (USB adapter, udev rule, cable)
 * or a TCP address (host, port, network, ser2net). Daemon log lines,
 * `health` and otcctl all use these sentences, so they say the same thing.
 */
import { isTcpAddress } from './address.js';

export function linkHint(address: string): string {
  if (isTcpAddress(address)) {
    return `check that the terminal (or the ser2net serving it) is on and listening at ${address}, and the network and firewall between this kiosk and it`;
  }
  return `check the terminal's power and cable, that its USB adapter is plugged in, and \`ls -l ${address}\` (the udev rule 99-otcd-terminal.rules names it)`;
}

/** One sentence for an errno met opening a serial device: what it means and what to do. */
export function serialOpenAdvice(address: string, errno: string): string {
  switch (errno) {
    case 'ENOENT':
      return `${address} does not exist: the terminal's USB adapter is not plugged in, or the udev rule (99-otcd-terminal.rules, its USB ids) did not name it; check \`ls -l ${address}\` and \`lsusb\``;
    case 'EACCES':
      return `permission denied on ${address}: the user otcd runs as is not in the device's group (dialout, given by the udev rule); check \`ls -l ${address}\` and \`id otcd\``;
    case 'EPERM':
      return `${address} is not allowed to otcd: the unit's DeviceAllow= lists ttyUSB, ttyACM, ttyS and ttyAMA devices only; another device class needs a drop-in (systemctl edit otcd)`;
    case 'EBUSY':
    case 'EAGAIN':
      return `${address} is held by another program (a serial console, ModemManager, a second otcd); find it with \`fuser -v ${address}\``;
    case 'ENOTTY':
      return `${address} is not a serial device: terminal.address must name the terminal's serial port`;
    case 'ENODEV':
    case 'ENXIO':
    case 'EIO':
      return `${address} exists but its device does not answer (adapter unplugged while open, or faulty): replug the USB adapter, or try another port or adapter`;
    default:
      return `cannot open ${address} (${errno}); ${linkHint(address)}`;
  }
}

/** One sentence for an error met connecting to a TCP terminal address. */
export function tcpConnectAdvice(address: string, errno: string): string {
  switch (errno) {
    case 'ECONNREFUSED':
      return `nothing listens at ${address}: the terminal (or ser2net) is off, or listens on another port; check terminal.address`;
    case 'ETIMEDOUT':
      return `no answer from ${address}: the host is off or a firewall drops the connection; check the network between this kiosk and it`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENETDOWN':
      return `no route to ${address}: check this kiosk's network (cable, address, gateway) and the host's`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name of ${address} does not resolve: check terminal.address and DNS, or use the IP address`;
    case 'ECONNRESET':
      return `${address} closed the connection at once: the terminal (or ser2net) may accept one connection only and have another`;
    default:
      return `cannot connect to ${address} (${errno}); ${linkHint(address)}`;
  }
}

/** What to check when the port is open but the terminal does not answer. */
export function silenceHint(address: string): string {
  if (isTcpAddress(address)) {
    return `check that the terminal is switched on and that what listens at ${address} is the terminal's ecr1 port (ser2net: with the terminal's baud rate)`;
  }
  return `check that the terminal is switched on and that terminal.baud_rate matches its setting (growing lrcErrors or naksReceived in \`otcctl status\` point at a wrong baud rate or a bad cable)`;
}
