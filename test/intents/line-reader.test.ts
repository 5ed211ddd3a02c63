import { describe, expect, test } from '@jest/globals';
import { LineReader, MAX_LINE_BYTES } from '../../daemon/intents/line-reader.js';

function feed(reader: LineReader, chunks: (string | Buffer)[]): { lines: string[]; overflow: boolean } {
  const lines: string[] = [];
  let overflow = false;
  for (const chunk of chunks) {
    const batch = reader.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    lines.push(...batch.lines.map((l) => l.toString('utf8')));
    overflow ||= batch.overflow;
  }
  return { lines, overflow };
}

describe('LineReader: splitting', () => {
  test.each<[string, string[], string[]]>([
    ['one line', ['{"a":1}\n'], ['{"a":1}']],
    ['two lines in one chunk', ['a\nb\n'], ['a', 'b']],
    ['a line over three chunks', ['{"op"', ':"hea', 'lth"}\n'], ['{"op":"health"}']],
    ['the newline alone in a chunk', ['abc', '\n'], ['abc']],
    ['half a line after a whole one', ['a\nb', 'c\n'], ['a', 'bc']],
    ['CRLF', ['a\r\nb\r\n'], ['a', 'b']],
    ['CR and LF in different chunks', ['a\r', '\nb\r', '\n'], ['a', 'b']],
    ['only one CR is stripped', ['a\r\r\n'], ['a\r']],
    ['a lone CR inside a line stays', ['a\rb\n'], ['a\rb']],
    ['empty lines are skipped', ['\n\r\n\na\n\n'], ['a']],
    ['no newline yet: nothing', ['abc'], []],
  ])('%s', (_name, chunks, expected) => {
    expect(feed(new LineReader(), chunks)).toEqual({ lines: expected, overflow: false });
  });

  test('a multi-byte UTF-8 character split across chunks comes out whole', () => {
    const bytes = Buffer.from('"한"\n', 'utf8');
    expect(feed(new LineReader(), [bytes.subarray(0, 2), bytes.subarray(2)]).lines).toEqual(['"한"']);
  });

  test('every split point of a two-line stream gives the same lines', () => {
    const stream = Buffer.from('{"op":"health","req":"1"}\r\n{"op":"get","intentId":"x"}\n');
    for (let i = 0; i <= stream.length; i++) {
      expect(feed(new LineReader(), [stream.subarray(0, i), stream.subarray(i)]).lines)
        .toEqual(['{"op":"health","req":"1"}', '{"op":"get","intentId":"x"}']);
    }
  });

  test('end() gives the unfinished last line, once', () => {
    const reader = new LineReader();
    reader.push(Buffer.from('a\nlast\r'));
    expect(reader.end()?.toString()).toBe('last');
    expect(reader.end()).toBeUndefined();
  });
});

describe('LineReader: the 16 KiB limit', () => {
  test('the default limit is 16384 bytes', () => {
    expect(MAX_LINE_BYTES).toBe(16384);
    expect(new LineReader().maxLineBytes).toBe(16384);
  });

  test.each<[string, string[], number | 'overflow']>([
    ['16384 bytes + LF is a line', ['x'.repeat(16384) + '\n'], 16384],
    ['16384 bytes + CRLF is a line', ['x'.repeat(16384) + '\r\n'], 16384],
    ['16384 bytes + CR, LF in the next chunk, is a line', ['x'.repeat(16384) + '\r', '\n'], 16384],
    ['16384 bytes in 1-KiB chunks then LF is a line', [...Array(16).fill('x'.repeat(1024)), '\n'], 16384],
    ['16385 bytes + LF in one chunk overflows', ['x'.repeat(16385) + '\n'], 'overflow'],
    ['16385 bytes + CRLF overflows', ['x'.repeat(16385) + '\r\n'], 'overflow'],
    ['16384 bytes then CR then a byte overflows', ['x'.repeat(16384) + '\r', 'y'], 'overflow'],
  ])('%s', (_name, chunks, expected) => {
    const result = feed(new LineReader(), chunks);
    if (expected === 'overflow') {
      expect(result).toEqual({ lines: [], overflow: true });
    } else {
      expect(result.overflow).toBe(false);
      expect(result.lines.map((l) => l.length)).toEqual([expected]);
    }
  });

  test('overflow is seen while accumulating, before any newline, and nothing is held', () => {
    const reader = new LineReader();
    expect(reader.push(Buffer.alloc(16384, 0x78)).overflow).toBe(false);
    expect(reader.pendingBytes).toBe(16384);
    expect(reader.push(Buffer.from('y')).overflow).toBe(true);
    expect(reader.pendingBytes).toBe(0);
    // Stays stopped: later input is neither held nor split.
    expect(reader.push(Buffer.from('ok\n'))).toEqual({ lines: [], overflow: true });
    expect(reader.pendingBytes).toBe(0);
    expect(reader.end()).toBeUndefined();
  });

  test('lines before the long one in the same chunk are kept', () => {
    expect(feed(new LineReader(), ['a\nb\n' + 'x'.repeat(16385)])).toEqual({ lines: ['a', 'b'], overflow: true });
  });

  test('a small limit, exactly at and one past it', () => {
    expect(feed(new LineReader(4), ['abcd\n']).lines).toEqual(['abcd']);
    expect(feed(new LineReader(4), ['abcde\n']).overflow).toBe(true);
    expect(feed(new LineReader(4), ['abcd', 'e']).overflow).toBe(true);
  });

  test('refuses a nonsense limit', () => {
    expect(() => new LineReader(0)).toThrow(TypeError);
  });
});
