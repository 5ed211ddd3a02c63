/**
 * "Did you mean ...?" for misspelt keys: the nearest known name by edit
 * distance, if it is near enough to be a likely typo.
 */

export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate nearest to `given` (case-insensitive), or undefined when
 * none is within about a third of its length.
 */
export function nearest(given: string, candidates: readonly string[]): string | undefined {
  const g = given.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    // A truncated or extended name ("baud" for "baud_rate") is a likely typo
    // however many letters are missing.
    const d = g.length >= 3 && (lc.startsWith(g) || g.startsWith(lc)) ? 1 : editDistance(g, lc);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(2, Math.floor(g.length / 3));
  return bestDistance <= limit ? best : undefined;
}
