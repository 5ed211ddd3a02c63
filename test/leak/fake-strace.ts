/** strace log lines as `strace -f -yy -xx` prints them, built from bytes (for the parser's tests). */

/** Every byte as \xNN, as -xx prints data and fd names. */
export function xx(bytes: Buffer | string): string {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  return [...buf].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
}

export function writeLine(pid: number, fd: number, target: string, data: Buffer, opts: { syscall?: 'write' | 'pwrite64'; unfinished?: boolean } = {}): string {
  const syscall = opts.syscall ?? 'write';
  const tail = syscall === 'pwrite64' ? `, ${data.length}, 0` : `, ${data.length}`;
  return `${pid}  ${syscall}(${fd}<${xx(target)}>, "${xx(data)}"${tail}${opts.unfinished ? ' <unfinished ...>' : `) = ${data.length}`}`;
}

export function writevLine(pid: number, fd: number, target: string, chunks: Buffer[]): string {
  const iov = chunks.map((c) => `{iov_base="${xx(c)}", iov_len=${c.length}}`).join(', ');
  const total = chunks.reduce((n, c) => n + c.length, 0);
  return `${pid}  writev(${fd}<${xx(target)}>, [${iov}], ${chunks.length}) = ${total}`;
}

export function sendmsgLine(pid: number, fd: number, target: string, sunPath: string, chunks: Buffer[]): string {
  const iov = chunks.map((c) => `{iov_base="${xx(c)}", iov_len=${c.length}}`).join(', ');
  const total = chunks.reduce((n, c) => n + c.length, 0);
  return `${pid}  sendmsg(${fd}<${xx(target)}>, {msg_name={sa_family=AF_UNIX, sun_path="${xx(sunPath)}"}, msg_namelen=${sunPath.length + 3}, msg_iov=[${iov}], msg_iovlen=${chunks.length}, msg_controllen=0, msg_flags=0}, MSG_NOSIGNAL) = ${total}`;
}
