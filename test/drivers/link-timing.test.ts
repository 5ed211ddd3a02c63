import { describe, expect, test } from '@jest/globals';
import { ManualClock } from '../../drivers/clock.js';
import { ACK, NAK, encodeFrame } from '../../drivers/ecr1/frame.js';
import { Link } from '../../drivers/ecr1/link.js';
import { LinkError } from '../../drivers/ecr1/errors.js';
import { MemoryTransport } from './memory-transport.js';

const body = (seq: number, rest: string): Buffer => Buffer.from(`${String(seq).padStart(2, '0')}\x1c${rest}`, 'latin1');

function setup(opts: ConstructorParameters<typeof Link>[0] = {}): { clock: ManualClock; link: Link; t: MemoryTransport; delivered: string[] } {
  const clock = new ManualClock();
  const link = new Link({ clock, firstSeq: 98, ...opts });
  const t = new MemoryTransport();
  link.attach(t);
  const delivered: string[] = [];
  link.on('frame', (b) => delivered.push(b.toString('latin1')));
  return { clock, link, t, delivered };
}

/** Lets the decoder's stream callbacks run. */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('link options', () => {
  test('T_dup must exceed (retries + 1) x T_ack', () => {
    expect(() => new Link({ dupWindowMs: 4000 })).toThrow(/dupWindowMs/);
    expect(() => new Link({ dupWindowMs: 4001 })).not.toThrow();
    expect(() => new Link({ retries: 5, ackTimeoutMs: 1000 })).toThrow(/dupWindowMs/);
    expect(() => new Link({ retries: -1 })).toThrow(/retries/);
    expect(() => new Link({ ackTimeoutMs: 0 })).toThrow(/ackTimeoutMs/);
    expect(() => new Link({ byteTimeoutMs: Number.NaN })).toThrow(/byteTimeoutMs/);
  });
});

describe('T_ack and retries (ManualClock)', () => {
  test('no ACK: resent every 1000 ms with the same SEQ, LINK_FAILED after 4 sends', async () => {
    const { clock, link, t } = setup();
    const done = link.send((seq) => body(seq, 'PING'), { label: 'PING' });
    const failed = done.catch((e: unknown) => e);
    expect(t.written).toHaveLength(1);
    await clock.advance(999);
    expect(t.written).toHaveLength(1);
    await clock.advance(1);
    expect(t.written).toHaveLength(2);
    await clock.advance(2000);
    expect(t.written).toHaveLength(4);
    await clock.advance(999);
    expect(t.written).toHaveLength(4);
    await clock.advance(1);
    const err = await failed;
    expect(err).toBeInstanceOf(LinkError);
    expect((err as LinkError).code).toBe('LINK_FAILED');
    expect(t.written).toHaveLength(4);
    for (const w of t.written) expect(w.equals(encodeFrame(body(98, 'PING')))).toBe(true);
    expect(link.counters()).toMatchObject({ framesSent: 1, retransmissions: 3, ackTimeouts: 4 });
  });

  test('NAK resends at once; ACK resolves; the next frame takes the next SEQ (mod 100)', async () => {
    const { clock, link, t } = setup();
    const first = link.send((seq) => body(seq, 'PING'), { label: 'PING' });
    const second = link.send((seq) => body(seq, 'PING'), { label: 'PING' });
    expect(t.written).toHaveLength(1); // one frame in flight
    t.feed(Buffer.from([NAK]));
    await tick();
    expect(t.written).toHaveLength(2);
    t.feed(Buffer.from([ACK]));
    await first;
    expect(t.written).toHaveLength(3);
    expect(t.written[2].equals(encodeFrame(body(99, 'PING')))).toBe(true);
    t.feed(Buffer.from([ACK]));
    await second;
    const third = link.send((seq) => body(seq, 'PING'), { label: 'PING' });
    expect(t.written[3].equals(encodeFrame(body(0, 'PING')))).toBe(true);
    t.feed(Buffer.from([ACK]));
    await third;
    expect(link.counters()).toMatchObject({ framesSent: 3, naksReceived: 1, retransmissions: 1, ackTimeouts: 0 });
    expect(clock.pendingCount).toBe(0);
  });

  test('the frame buffer (track 2) is zeroed once its exchange ends', async () => {
    const { link, t } = setup();
    let frameRef: Buffer | undefined;
    const origWrite = t.write.bind(t);
    t.write = (data: Buffer) => {
      frameRef = data;
      origWrite(data);
    };
    const p = link.send((seq) => body(seq, 'AUTH\x1cr1\x1c1000\x1c00\x1c9410123456789012=30121011234567890123'), { label: 'AUTH' });
    expect(frameRef?.includes('9410123456789012')).toBe(true);
    t.feed(Buffer.from([ACK]));
    await p;
    expect(frameRef?.every((b) => b === 0)).toBe(true);
  });

  test('loss of the transport fails the frame in flight and the queue with LINK_DOWN at once', async () => {
    const { link, t } = setup();
    const a = link.send((seq) => body(seq, 'PING'), { label: 'PING' }).catch((e: LinkError) => e.code);
    const b = link.send((seq) => body(seq, 'PING'), { label: 'PING' }).catch((e: LinkError) => e.code);
    link.detach('unplugged');
    t.drop();
    expect(await a).toBe('LINK_DOWN');
    expect(await b).toBe('LINK_DOWN');
    await expect(link.send((seq) => body(seq, 'PING'), { label: 'PING' })).rejects.toMatchObject({ code: 'LINK_DOWN' });
    link.attach(new MemoryTransport());
    expect(link.counters().reconnects).toBe(1);
    link.close();
    await expect(link.send((seq) => body(seq, 'PING'), { label: 'PING' })).rejects.toMatchObject({ code: 'LINK_CLOSED' });
  });
});

describe('receiving (ManualClock)', () => {
  test('good frames are ACKed, bad ones NAKed, while our own frame waits for its ACK', async () => {
    const { link, t, delivered } = setup();
    const mine = link.send((seq) => body(seq, 'PING'), { label: 'PING' });
    const bad = encodeFrame(body(5, 'PROG\x1cr\x1cRCVD'));
    bad[bad.length - 1] ^= 0xff;
    t.feed(Buffer.concat([encodeFrame(body(5, 'PONG\x1cT1\x1cIDLE')), bad]));
    await tick();
    expect(t.written.slice(1).map((w) => w[0])).toEqual([ACK, NAK]);
    expect(delivered).toEqual(['05\x1cPONG\x1cT1\x1cIDLE']);
    t.feed(Buffer.from([ACK]));
    await mine;
    expect(link.counters()).toMatchObject({ framesReceived: 1, naksSent: 1, lrcErrors: 1 });
  });

  test('T_dup: same SEQ and body within 5 s is ACKed again, not delivered; after 5 s it is new', async () => {
    const { clock, t, delivered, link } = setup();
    const f = encodeFrame(body(7, 'RSLT\x1cr1\x1c00\x1cA1\x1c\x1cOK'));
    t.feed(f);
    await tick();
    await clock.advance(4999);
    t.feed(f);
    await tick();
    expect(delivered).toHaveLength(1);
    expect(link.counters().duplicates).toBe(1);
    await clock.advance(1); // 5000 ms after the first copy
    t.feed(f);
    await tick();
    expect(delivered).toHaveLength(2);
    // same SEQ, different body: new frame
    t.feed(encodeFrame(body(7, 'RSLT\x1cr2\x1c00\x1cA1\x1c\x1cOK')));
    await tick();
    expect(delivered).toHaveLength(3);
    expect(t.written.map((w) => w[0])).toEqual([ACK, ACK, ACK, ACK]);
  });
});
