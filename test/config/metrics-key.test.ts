import { afterAll, describe, expect, test } from '@jest/globals';
import { loadConfig } from '../../config/load.js';
import { DEFAULT_METRICS_TEXTFILE } from '../../config/schema.js';
import { ConfigDir, configErrorOf } from './support.js';

const dir = new ConfigDir();
afterAll(() => dir.remove());

describe('[metrics] textfile', () => {
  test('defaults to the file Debian\'s prometheus-node-exporter reads', () => {
    expect(loadConfig(dir.write(''), {}).metrics.textfile).toBe('/var/lib/prometheus/node-exporter/otcd.prom');
    expect(DEFAULT_METRICS_TEXTFILE).toBe('/var/lib/prometheus/node-exporter/otcd.prom');
  });

  test('"" turns metrics off, in the file or from the environment', () => {
    expect(loadConfig(dir.write('[metrics]\ntextfile = ""\n'), {}).metrics.textfile).toBeUndefined();
    expect(loadConfig(dir.write(''), { OTCD_METRICS_TEXTFILE: '' }).metrics.textfile).toBeUndefined();
  });

  test('a path the textfile collector would never read is refused with what is allowed', () => {
    for (const bad of ['/var/lib/prometheus/node-exporter/otcd.txt', 'otcd.prom', '/var/lib/prometheus/node-exporter/.prom']) {
      const err = configErrorOf(dir.write(`[metrics]\ntextfile = ${JSON.stringify(bad)}\n`));
      expect(err.message).toContain('metrics.textfile');
      expect(err.message).toContain('ending in .prom');
    }
  });
});
