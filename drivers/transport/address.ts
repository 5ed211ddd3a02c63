/** Terminal addresses: `tcp://host:port` is a TCP connection, anything else a device path. */
export const TCP_PREFIX = 'tcp://';

export function isTcpAddress(address: string): boolean {
  return address.startsWith(TCP_PREFIX);
}
