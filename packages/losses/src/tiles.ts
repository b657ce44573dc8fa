/** Rows `begin … begin + size − 1` of an anchor or candidate tensor (the same shape as a chunk's range). */
export interface Tile {
  readonly begin: number;
  readonly size: number;
}

/** Consecutive tiles of at most `size` rows covering n rows. */
export function tiles(n: number, size: number): Tile[] {
  const out: Tile[] = [];
  for (let begin = 0; begin < n; begin += size) out.push({ begin, size: Math.min(size, n - begin) });
  return out;
}
