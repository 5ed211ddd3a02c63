// createLogger: the three formats, syslog priorities for journald, and the
// card-data defences, with the test card data from /work/shared/vectors.
import { describe, test, expect } from '@jest/globals';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { generateIntentId } from '../../daemon/cli/pay.js';
import { createLogger, detectFormat, isIdentifierFieldName, isSecretFieldName, keepsIdentifier, maskCardNumbers, scrub, type LogFormat } from '../../daemon/log.js';
import { SUITE_CARDS } from '../../scripts/leak-hunt/test-cards.js';

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

  test('journal: an err given as text is shown as that text; an error without a message by its type, never "Error: "', () => {
    const { logger, text } = capture('journal');
    logger.warn({ err: 'ENOENT: /dev/otcd-terminal does not exist' }, 'terminal port not open');
    logger.warn({ err: new Error('') }, 'empty');
    expect(text().split('\n').slice(0, 2)).toEqual([
      '<4>terminal port not open err="ENOENT: /dev/otcd-terminal does not exist"',
      '<4>empty err="Error"',
    ]);
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

/** The PANs of the leak hunt's cards that are card numbers by length (13-19 digits). */
const SUITE_PANS = SUITE_CARDS.map((c) => c.track2.slice(0, c.track2.indexOf('='))).filter((p) => p.length >= 13);

/**
 * otcctl's own ids over one day, one per minute, with each hex digit first in
 * the random part: the ids whose date, time and leading random digits make a
 * 15-digit run across the dashes (`otcctl-20261206-101530-3a5ba6`).
 */
function otcctlIds(): string[] {
  const ids: string[] = [];
  const day = Date.parse('2026-12-06T00:00:00Z');
  for (let minute = 0; minute < 24 * 60; minute++) {
    const id = generateIntentId(day + minute * 60_000 + (minute % 60) * 1000);
    ids.push(`${id.slice(0, -6)}${(minute % 16).toString(16)}${id.slice(-5)}`);
  }
  return ids;
}

describe('identifiers reach the log as they are; card numbers never do', () => {
  const KIOSK_IDS = ['order-20261206-000123', 'order-8812', 'otcctl-20261206-101530-3a5ba6', 'otcctl-20261127-100000-a1b2c3',
    'kiosk7:2026-12-06:4000000000000002', 'INV.2026.12.06.00001234', 'a_b-c.d:e', 'x'.repeat(64)];

  test('the ids from the field and one day of otcctl ids pass through every format unchanged', () => {
    const ids = [...KIOSK_IDS, ...otcctlIds()];
    expect(ids.length).toBeGreaterThan(1000);
    for (const format of ['journal', 'json', 'pretty'] as const) {
      const { logger, text } = capture(format);
      for (const id of ids) {
        logger.child({ intentId: id }).info({ ref: id, req: id, paymentId: id, authorizationId: id }, 'payment approved');
      }
      const out = text();
      expect(out).not.toContain('masked');
      const lines = out.trimEnd().split('\n');
      expect(lines).toHaveLength(ids.length);
      // each of the five fields holds the id verbatim
      ids.forEach((id, i) => {
        for (const field of ['intentId', 'ref', 'req', 'paymentId', 'authorizationId'])
          expect(lines[i]).toContain(format === 'json' ? `"${field}":"${id}"` : `${field}=${id}`);
      });
    }
  });

  test('the free-text rule alone masked most otcctl ids across their dashes; now none, in fields or in text', () => {
    const ids = otcctlIds();
    // the rule every string went through until identifier fields were told apart
    const oldRule = (t: string): string => t.replace(/(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)/g, (run) => {
      const d = run.replace(/[ -]/g, '');
      return d.length >= 15 || luhnOk(d) ? '[card number masked]' : run;
    });
    const maskedBefore = ids.filter((id) => oldRule(id) !== id).length;
    const maskedNow = ids.filter((id) => (scrub({ intentId: id }) as { intentId: string }).intentId !== id).length;
    process.stdout.write(`otcctl ids over one day: ${maskedBefore} of ${ids.length} masked by the old rule, ${maskedNow} now\n`);
    expect(maskedBefore).toBeGreaterThan(ids.length / 10);
    for (const id of ids) expect(scrub({ intentId: id, note: `paying ${id}` })).toEqual({ intentId: id, note: `paying ${id}` });
  });

  test('identifier fields: names ending in id, ref or req; secret names are never identifiers', () => {
    for (const name of ['id', 'intentId', 'paymentId', 'terminalId', 'authorizationId', 'intent_id', 'ref', 'terminalRef', 'req'])
      expect(isIdentifierFieldName(name)).toBe(true);
    for (const name of ['message', 'note', 'reason', 'address', 'idle', 'refund', 'request', 'panId', 'track2Id', 'cardPan'])
      expect(isIdentifierFieldName(name)).toBe(false);
  });

  test.each(['journal', 'json', 'pretty'] as const)('%s: every leak-hunt card stays masked, in child bindings and in id fields too when the whole value is the card', (format) => {
    expect(SUITE_PANS.length).toBeGreaterThan(20);
    const { logger, text } = capture(format);
    for (const card of SUITE_CARDS) {
      const pan = card.track2.slice(0, card.track2.indexOf('='));
      const dTrack = card.track2.replace('=', 'D');
      logger.child({ intentId: pan }).info({ ref: card.track2, req: dTrack, id: `;${card.track2}?`, paymentId: pan,
        message: `terminal said ${pan} / ${card.track2}`, note: `card ${pan.replace(/(\d{4})(?=\d)/g, '$1-')}` }, `seen ${pan}`);
    }
    const out = text();
    for (const card of SUITE_CARDS) {
      expect(out).not.toContain(card.track2);
      expect(out).not.toContain(card.track2.replace('=', 'D'));
    }
    for (const pan of SUITE_PANS) expect(out).not.toContain(pan);
  });

  test('keepsIdentifier: ids with digit runs inside are ids; a bare card number or track 2 is not', () => {
    for (const id of KIOSK_IDS) expect(keepsIdentifier(id)).toBe(true);
    expect(keepsIdentifier('202611271000')).toBe(true); // 12 digits: no card
    expect(keepsIdentifier('1764237600000')).toBe(true); // 13 digits failing Luhn
    for (const pan of SUITE_PANS) expect(keepsIdentifier(pan)).toBe(false);
    expect(keepsIdentifier('4000000000000002')).toBe(false);
    expect(keepsIdentifier('9410123456789012D3012101')).toBe(false);
    expect(keepsIdentifier('x'.repeat(65))).toBe(false);
    expect(keepsIdentifier('has space')).toBe(false);
  });

  test('free text: grouped card numbers are masked, dashed dates and counters are not', () => {
    expect(maskCardNumbers('pan 4000-0000-0000-0002 ok')).toBe('pan [card number masked] ok');
    expect(maskCardNumbers('amex 3714 496353 98431 ok')).toBe('amex [card number masked] ok');
    expect(maskCardNumbers('long 6011 0009 9013 9424 123 ok')).toBe('long [card number masked] ok');
    expect(maskCardNumbers('intent otcctl-20261206-101530-3a5ba6 approved')).toBe('intent otcctl-20261206-101530-3a5ba6 approved');
    expect(maskCardNumbers('intent order-20261206-000123')).toBe('intent order-20261206-000123');
    expect(maskCardNumbers('glued otcctl-4000000000000002x')).toBe('glued otcctl-[card number masked]x');
  });
});

function luhnOk(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0;
}
