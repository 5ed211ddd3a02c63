// createLogger: the three formats, syslog priorities for journald, and the
// card-data defences, with the test card data from /work/shared/vectors.
import { describe, test, expect } from '@jest/globals';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger, detectFormat, isSecretFieldName, maskCardNumbers, type LogFormat } from '../../daemon/log.js';

const vectors = JSON.parse(readFileSync(join(process.cwd(), '../shared/vectors/rsa-pkcs1-java.json'), 'utf8')) as unknown;
/** Every track 2 in the vectors, and the PAN in front of each separator. */
const TRACKS = JSON.stringify(vectors).match(/;?\d{12,19}=\d+\??/g) ?? [];
const PANS = TRACKS.map((t) => t.replace(/^;/, '').split('=')[0] as string);

function capture(format: LogFormat, level = 'debug'): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.setEncoding('utf8').on('data', (c: string) => (text += c));
  return { logger: createLogger({ level, format, stream }), text: () => text };
}

describe('formats', () => {
  test('journal: one line per record with its syslog priority, no timestamp', () => {
    const { logger, text } = capture('journal');
    const log = logger.child({ module: 'terminal' });
    log.debug({ bytes: 12 }, 'frame sent');
    log.info({ paymentId: 'p7Kq2-1', amount: 12000 }, 'payment approved');
    log.warn({ attempt: 2 }, 'no ACK from terminal, resending');
    log.error({ address: '/dev/otcd-terminal' }, 'terminal not connected: check the cable and `ls -l /dev/otcd-terminal`');
    log.fatal('cannot continue');
    expect(text().split('\n')).toEqual([
      '<7>terminal: frame sent bytes=12',
      '<6>terminal: payment approved paymentId=p7Kq2-1 amount=12000',
      '<4>terminal: no ACK from terminal, resending attempt=2',
      '<3>terminal: terminal not connected: check the cable and `ls -l /dev/otcd-terminal` address=/dev/otcd-terminal',
      '<2>terminal: cannot continue',
      '',
    ]);
  });

  test('journal: an error keeps its code and every stack line its priority', () => {
    const { logger, text } = capture('journal');
    const err = Object.assign(new Error('provider answered 503'), { code: 'PROVIDER_HTTP' });
    logger.error({ err }, 'inquiry failed');
    const lines = text().trimEnd().split('\n');
    expect(lines[0]).toBe('<3>inquiry failed err="Error: provider answered 503" code=PROVIDER_HTTP');
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.slice(1).every((l) => l.startsWith('<3>  at '))).toBe(true);
  });

  test('json: one object per line with a level label and time', () => {
    const { logger, text } = capture('json', 'info');
    logger.debug('hidden');
    logger.info({ n: 1 }, 'one');
    logger.warn('two');
    const records = text().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => [r.level, r.msg, r.n])).toEqual([['info', 'one', 1], ['warn', 'two', undefined]]);
    expect(typeof records[0]?.time).toBe('string');
  });

  test('pretty: time, level, module, message, fields', () => {
    const { logger, text } = capture('pretty');
    logger.child({ module: 'socket' }).info({ clients: 2 }, 'client connected');
    expect(text()).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}socket: client connected clients=2\n$/);
  });

  test('journald is detected only when our output is the stream JOURNAL_STREAM names', () => {
    const dir = mkdtempSync(join(tmpdir(), 'otcd-log-'));
    const fd = openSync(join(dir, 'out'), 'w');
    try {
      const st = fstatSync(fd, { bigint: true });
      expect(detectFormat({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }, { fd })).toBe('journal');
      expect(detectFormat({ JOURNAL_STREAM: `${st.dev}:${st.ino + 1n}` }, { fd })).toBe('json');
      expect(detectFormat({}, { fd })).toBe('json');
      expect(detectFormat({}, { isTTY: true })).toBe('pretty');
      expect(detectFormat({ JOURNAL_STREAM: '1:2' }, new PassThrough())).toBe('json');
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('card data never reaches a line', () => {
  test('the vectors hold test card data to check against', () => {
    expect(TRACKS.length).toBeGreaterThanOrEqual(2);
    expect(PANS).toContain('9410123456789012');
  });

  test.each(['journal', 'json', 'pretty'] as const)('%s: secret fields, card numbers in text, buffers', (format) => {
    const { logger, text } = capture(format);
    for (const [i, track] of TRACKS.entries()) {
      const pan = PANS[i] as string;
      const err = Object.assign(new Error(`terminal rejected ${track}`), { pan, code: 'TERMINAL_DECLINED' });
      logger.child({ module: 'payments', track2: track }).info(
        {
          pan,
          cardPan: pan,
          track2Hex: Buffer.from(track).toString('hex'),
          encOtc: 'bXlPdGM=',
          request: { headers: { Authorization: 'Basic c2VjcmV0', 'content-type': 'application/json' } },
          publicKey: 'MIIBIjANBgkq',
          privateKeyPem: '-----BEGIN PRIVATE KEY-----',
          frame: Buffer.from(track),
          nested: [{ deeper: { trackData: track } }],
          note: `card ${pan.replace(/(\d{4})(?=\d)/g, '$1 ')} read`,
          err,
        },
        `approved ${pan} / ${track}`,
      );
      logger.error(err, 'as first argument');
    }
    const out = text();
    for (const secret of [...TRACKS, ...PANS, 'c2VjcmV0', 'bXlPdGM=', 'MIIBIjANBgkq', 'BEGIN PRIVATE', ...TRACKS.map((t) => Buffer.from(t).toString('hex'))]) {
      expect(out).not.toContain(secret);
    }
    for (const pan of PANS) expect(out).not.toContain(pan.slice(0, 12));
    // what a technician needs is still there
    expect(out).toContain('TERMINAL_DECLINED');
    expect(out).toContain('content-type');
    expect(out).toContain('approved');
  });

  test('field names: card-data names anywhere in the name, "pan" only as a word', () => {
    for (const name of ['track2', 'track2Hex', 'rawTrack', 'pan', 'cardPan', 'pan_masked', 'encOtc', 'ENC_OTC', 'privateKey', 'publicKeyDer', 'authorization', 'Authorization', 'Proxy-Authorization', 'proxyPassword'])
      expect(isSecretFieldName(name)).toBe(true);
    for (const name of ['company', 'span', 'expand', 'paymentId', 'amount', 'otcId', 'address', 'authorizationId'])
      expect(isSecretFieldName(name)).toBe(false);
  });

  test('free text: track 2 and card numbers masked, ordinary numbers kept', () => {
    expect(maskCardNumbers('read ;9410123456789012=30121011234567890123? ok')).toBe('read [track 2 masked] ok');
    expect(maskCardNumbers('pan 4000 0000 0000 0002 ok')).toBe('pan [card number masked] ok');
    expect(maskCardNumbers('otc 9440987654321098765')).toBe('otc [card number masked]');
    expect(maskCardNumbers('amount 12000, at 1764237600000, id 202611271000')).toBe('amount 12000, at 1764237600000, id 202611271000');
  });
});
