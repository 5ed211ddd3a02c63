/**
 * The leak scan proper, for scripts/leak-scan.ts and its tests:
 *   - scanCaptureDir: every write of every daemon captured under strace
 *     (strace-capture.ts), grouped by what the fd was; a needle counts as a hit
 *     unless it lies inside one buffer that is an ecr1 AUTH frame written to
 *     the terminal link (auth-frame.ts);
 *   - scanPlainFiles: files as they are (journal files, `journalctl -o
 *     export`, a copied state directory), where no allowance applies;
 *   - controls: the conditions without which a clean result proves nothing
 *     (nothing captured, needles that match nothing, file or socket writes not
 *     traced).
 * Hits are reported with their surroundings in hex, every needle masked.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isAllowedHit, isTerminalLink, targetKind, type DaemonPeers, type TargetKind } from './auth-frame.js';
import { maskedContext, type Match, type NeedleMatcher } from './matcher.js';
import { CAPTURE_LOG_SUFFIX, CAPTURE_META_SUFFIX, CAPTURE_PREFIX, type CaptureMeta } from './strace-capture.js';
import { decodeEscapes, readStraceLog, StraceLogParser, type TracedWrite } from './strace-log.js';
import { fileChunks } from './file-chunks.js';

export interface KindStats {
  writes: number;
  bytes: number;
  /** Places holding card data (overlapping needle matches are one place). */
  hits: number;
  /** Needle occurrences inside an AUTH frame on the terminal link. */
  allowed: number;
}

export interface LeakHit {
  kind: string;
  /** Capture file and line, pid, syscall, fd and target; or a file and offset. */
  where: string;
  /** Every needle that matched at this place (labels only, never the secret). */
  labels: string[];
  context: string;
}

/** Hits listed per kind at most; all are counted. */
const HITS_LISTED_PER_KIND = 20;

export class LeakReport {
  readonly stats = new Map<string, KindStats>();
  readonly hits: LeakHit[] = [];
  hitCount = 0;
  /** Capture logs found; and of those, logs holding at least one write (daemons that ran). */
  logs = 0;
  daemons = 0;
  /** AUTH frames with a track 2 needle, written to the terminal link: proof that decoding and needles work. */
  authFramesWithTrack2 = 0;
  truncatedWrites = 0;
  /** Line numbers (never the text) of lines the parser could not read; their bytes were scanned as 'unparsed'. */
  unparsed: string[] = [];
  /** Calls that move bytes strace cannot show (sendfile, copy_file_range, splice, io_uring_setup). */
  opaque: string[] = [];
  /** Plain-file mode: control strings and how often each was found. */
  readonly expected = new Map<string, number>();

  kind(name: string): KindStats {
    let s = this.stats.get(name);
    if (!s) this.stats.set(name, s = { writes: 0, bytes: 0, hits: 0, allowed: 0 });
    return s;
  }

  addHit(hit: LeakHit): void {
    this.hitCount++;
    if (this.hits.filter((h) => h.kind === hit.kind).length < HITS_LISTED_PER_KIND) this.hits.push(hit);
  }
}

/** Scans one traced write into the report. */
export function scanWrite(write: TracedWrite, where: string, matcher: NeedleMatcher, report: LeakReport, peers: DaemonPeers = {}): void {
  const kind: TargetKind = targetKind(write.fd, write.target, peers);
  const stats = report.kind(kind);
  const buf = write.chunks.length === 1 ? write.chunks[0]! : Buffer.concat(write.chunks);
  stats.writes++;
  stats.bytes += buf.length;
  if (write.truncated) report.truncatedWrites++;
  const matches = matcher.find(buf);
  if (matches.length === 0) return;
  // Chunk boundaries: a match is allowed only when it lies inside one AUTH-frame chunk.
  const starts: number[] = [];
  let offset = 0;
  for (const c of write.chunks) {
    starts.push(offset);
    offset += c.length;
  }
  const chunkAround = (from: number, to: number): Buffer | undefined => {
    for (let i = write.chunks.length - 1; i >= 0; i--) {
      if (starts[i]! <= from) return to <= starts[i]! + write.chunks[i]!.length ? write.chunks[i] : undefined;
    }
    return undefined;
  };
  const authChunksWithTrack2 = new Set<Buffer>();
  const counted: Match[] = [];
  for (const m of matches) {
    const chunk = chunkAround(m.at, m.at + m.needle.bytes.length);
    if (isAllowedHit(kind, chunk)) {
      stats.allowed++;
      if (m.needle.secret.endsWith(' track2')) authChunksWithTrack2.add(chunk!);
    } else {
      counted.push(m);
    }
  }
  report.authFramesWithTrack2 += authChunksWithTrack2.size;
  for (const place of places(counted)) {
    stats.hits++;
    report.addHit({
      kind,
      where: `${where} pid ${write.pid} ${write.syscall} fd ${write.fd} <${write.target}> @${place.first.at}`,
      labels: place.labels,
      context: maskedContext(buf, place.first, matches),
    });
  }
}

/**
 * Overlapping matches are one place where card data sits (a track 2 matches
 * its PAN's needle, its own, and shorter listed track 2s): one hit each.
 */
function places(matches: readonly Match[]): Array<{ first: Match; labels: string[] }> {
  const sorted = [...matches].sort((a, b) => a.at - b.at || b.needle.bytes.length - a.needle.bytes.length);
  const out: Array<{ first: Match; end: number; labels: string[] }> = [];
  for (const m of sorted) {
    const end = m.at + m.needle.bytes.length;
    const last = out[out.length - 1];
    if (last && m.at < last.end) {
      last.end = Math.max(last.end, end);
      last.labels.push(m.needle.label);
    } else {
      out.push({ first: m, end, labels: [m.needle.label] });
    }
  }
  return out.map((p) => ({ first: p.first, labels: [...new Set(p.labels)] }));
}

/** Pids of strace processes still writing into `dir` (a -D tracer outlives its caller briefly). */
async function liveTracers(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = (await readFile(`/proc/${name}/cmdline`, 'latin1')).split('\0');
      if (basename(argv[0] ?? '') === 'strace' && argv.some((a) => a.startsWith(`${dir}/${CAPTURE_PREFIX}`))) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Waits until no tracer writes into `dir`; returns those still running after `timeoutMs`. */
export async function waitForTracers(dir: string, timeoutMs: number): Promise<number[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const live = await liveTracers(dir);
    if (live.length === 0 || Date.now() >= until) return live;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function scanCaptureDir(dir: string, matcher: NeedleMatcher, report = new LeakReport()): Promise<LeakReport> {
  const logs = (await readdir(dir)).filter((f) => f.startsWith(CAPTURE_PREFIX) && f.endsWith(CAPTURE_LOG_SUFFIX)).sort();
  for (const name of logs) {
    report.logs++;
    let meta: CaptureMeta | undefined;
    try {
      meta = JSON.parse(await readFile(join(dir, name.slice(0, -CAPTURE_LOG_SUFFIX.length) + CAPTURE_META_SUFFIX), 'utf8')) as CaptureMeta;
    } catch {
      meta = undefined;
    }
    const parser = new StraceLogParser();
    let writes = 0;
    for await (const write of readStraceLog(join(dir, name), parser)) {
      writes++;
      scanWrite(write, `${name}:${write.line}`, matcher, report, meta);
    }
    if (writes > 0) report.daemons++;
    for (const u of parser.unparsed) {
      report.unparsed.push(`${name}:${u.line}`);
      scanWrite({ line: u.line, pid: 0, syscall: 'unparsed', fd: -1, target: 'unparsed line', chunks: [decodeEscapes(u.text)], truncated: false }, `${name}:${u.line}`, matcher, report);
    }
    for (const o of parser.opaque) report.opaque.push(`${name}:${o.line} ${o.syscall} fd ${o.fd} <${o.target}>`);
  }
  return report;
}

/** The conditions under which a capture proves something; each string is one that failed. */
export function captureControls(report: LeakReport, minDaemons: number): string[] {
  const problems: string[] = [];
  const writesOf = (pred: (kind: string) => boolean): number => [...report.stats].filter(([k]) => pred(k)).reduce((n, [, s]) => n + s.writes, 0);
  if (report.daemons < minDaemons) problems.push(`${report.daemons} daemon(s) captured (${report.logs} capture logs), fewer than ${minDaemons}`);
  if (report.authFramesWithTrack2 === 0) problems.push('no AUTH frame carrying a test track 2 was seen on the terminal link: decoding or needles are blind');
  if (writesOf((k) => k === 'ledger file') === 0) problems.push('no ledger write was captured: file writes are not traced (io_uring?)');
  if (writesOf((k) => k === 'intent socket (UNIX stream)') === 0) problems.push('no write on the intent socket was captured: socket replies are not traced');
  if (writesOf((k) => isTerminalLink(k as TargetKind)) === 0) problems.push('no write to the terminal link was captured');
  if (report.opaque.length > 0) problems.push(`${report.opaque.length} call(s) whose bytes strace cannot show: ${report.opaque.slice(0, 5).join('; ')}`);
  if (report.truncatedWrites > 0) problems.push(`${report.truncatedWrites} write(s) longer than strace's -s were cut`);
  return problems;
}

/** Files as they are, each directory walked; `kind` names the argument a file came from. */
export async function scanPlainPath(path: string, kind: string, matcher: NeedleMatcher, report: LeakReport): Promise<void> {
  report.kind(kind); // a row even when it holds no file (a directory with only a socket)
  const info = await stat(path);
  if (info.isDirectory()) {
    for (const entry of (await readdir(path)).sort()) await scanPlainPath(join(path, entry), kind, matcher, report);
    return;
  }
  if (!info.isFile()) return;
  await scanPlainFile(path, kind, matcher, report);
}

async function scanPlainFile(path: string, kind: string, matcher: NeedleMatcher, report: LeakReport): Promise<void> {
  const stats = report.kind(kind);
  stats.writes++; // here: files
  const expected = [...report.expected.keys()].map((text) => ({ text, bytes: Buffer.from(text, 'utf8') }));
  const overlap = Math.max(matcher.overlap, ...expected.map((e) => e.bytes.length - 1));
  for await (const { bytes: valid, offset, carried, fresh } of fileChunks(path, overlap)) {
    const matches = matcher.find(valid).filter((m) => m.at + m.needle.bytes.length > carried);
    for (const place of places(matches)) {
      stats.hits++;
      report.addHit({ kind, where: `${path} @${offset + place.first.at}`, labels: place.labels, context: maskedContext(valid, place.first, matches) });
    }
    for (const e of expected) {
      for (let at = valid.indexOf(e.bytes); at >= 0; at = valid.indexOf(e.bytes, at + 1)) {
        if (at + e.bytes.length > carried) report.expected.set(e.text, report.expected.get(e.text)! + 1);
      }
    }
    stats.bytes += fresh;
  }
}

/** Plain-file mode's controls: something was read, and each expected (non-secret) string was found in it. */
export function plainControls(report: LeakReport): string[] {
  const problems: string[] = [];
  const bytes = [...report.stats.values()].reduce((n, s) => n + s.bytes, 0);
  if (bytes === 0) problems.push('nothing to scan: no bytes in the given files');
  for (const [text, count] of report.expected) if (count === 0) problems.push(`control string "${text}" not found: the files do not hold what they should`);
  return problems;
}
