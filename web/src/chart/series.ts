// The chart's data: one row per bar, ascending and unique in time, with the graph's output values
// of that bar. Rows come from three places that overlap: REST pages (candles and analytics over a
// range), the stream's snapshot (the latest closed bars and the forming one) and the stream's
// updates (the forming bar as it changes, then its final values). These functions merge them;
// they never mutate their arguments.
import type { AnalyticsResult, CandleSeries, Snapshot, Update } from '../api/types';

export type Values = Record<string, number | null>;

export interface Row {
  time: number; // the bar's open time, seconds since the Unix epoch (UTC)
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  values: Values;
  final: boolean; // false while the bar is still forming
}

const NS_PER_S = 1_000_000_000n;

// "1587081600000000000" (int64 ns, as the protobuf JSON mapping writes it) -> 1587081600.
export function nsToSeconds(ns: string | undefined): number {
  return Number(BigInt(ns ?? '0') / NS_PER_S);
}

export function secondsToNs(seconds: number): bigint {
  return BigInt(seconds) * NS_PER_S;
}

// A value of the protobuf JSON mapping: numbers, null before the lookback; the mapping writes
// non-finite doubles as strings ("NaN", "Infinity").
function toValue(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return Number.NaN;
  if (v === 'Infinity') return Number.POSITIVE_INFINITY;
  if (v === '-Infinity') return Number.NEGATIVE_INFINITY;
  return null;
}

// Rows of a candle page with the analytics of the same bars (matched by time; an analytics row
// without a candle is dropped, a candle without analytics has no values).
export function rowsFromColumns(candles: CandleSeries, analytics?: AnalyticsResult): Row[] {
  const ts = candles.ts ?? [];
  const rows: Row[] = ts.map((t, i) => ({
    time: nsToSeconds(t),
    open: candles.open?.[i] ?? Number.NaN,
    high: candles.high?.[i] ?? Number.NaN,
    low: candles.low?.[i] ?? Number.NaN,
    close: candles.close?.[i] ?? Number.NaN,
    volume: candles.volume?.[i] ?? 0,
    values: {},
    final: true,
  }));
  return analytics ? withValues(rows, analytics) : rows;
}

// `rows` with the values of `analytics` (matched by time) added to theirs.
export function withValues(rows: readonly Row[], analytics: AnalyticsResult): Row[] {
  const out = rows.map((r) => ({ ...r, values: { ...r.values } }));
  const ats = analytics.ts ?? [];
  const at = ats.map((t) => findRow(out, nsToSeconds(t)));
  for (const series of analytics.series ?? []) {
    const name = series.name ?? '';
    const values = series.values ?? [];
    at.forEach((i, j) => {
      const row = out[i];
      if (row) row.values[name] = toValue(values[j]);
    });
  }
  return out;
}

// The union of two row lists by time. Where both have a bar, `newer`'s OHLCV wins and the values
// are combined (newer's where it has the output). Linear in the total length.
export function mergeRows(older: readonly Row[], newer: readonly Row[]): Row[] {
  if (newer.length === 0) return older.slice();
  if (older.length === 0) return newer.slice();
  const out: Row[] = [];
  let i = 0;
  let j = 0;
  while (i < older.length || j < newer.length) {
    const a = older[i];
    const b = newer[j];
    if (b === undefined || (a !== undefined && a.time < b.time)) {
      out.push(a as Row);
      ++i;
    } else if (a === undefined || b.time < a.time) {
      out.push(b);
      ++j;
    } else {
      out.push({ ...b, values: { ...a.values, ...b.values } });
      ++i;
      ++j;
    }
  }
  return out;
}

// A stream snapshot merged into the rows drawn: the snapshot adds the bars and values the rows
// lack and replaces the forming bar, but a closed bar already loaded keeps its values. A value
// from the REST page (pull over the page's range) and one from the stream (the push engine,
// warmed over another range) may differ in the last bits for running sums and smoothings; the
// chart keeps one source per bar rather than a mix.
export function mergeSnapshot(rows: readonly Row[], snapshot: readonly Row[]): Row[] {
  const out = mergeRows(rows, snapshot);
  for (const s of snapshot) {
    const i = findRow(rows, s.time);
    const old = i < 0 ? undefined : rows[i];
    if (!old || !old.final || !s.final) continue;
    const at = findRow(out, s.time);
    out[at] = { ...old, values: { ...s.values, ...old.values } };
  }
  return out;
}

// The rows of a stream snapshot for one symbol: its closed bars with their analytics, then the
// forming bar when there is one.
export function rowsFromSnapshot(snapshot: Snapshot, symbol: string): Row[] {
  const candles = snapshot.candles?.find((c) => c.symbol === symbol);
  const analytics = snapshot.analytics?.find((a) => a.symbol === symbol);
  const rows = candles ? rowsFromColumns(candles, analytics) : [];
  const forming = snapshot.forming?.find((u) => u.symbol === symbol);
  return forming ? mergeRows(rows, [rowFromUpdate(forming)]) : rows;
}

export function rowFromUpdate(update: Update): Row {
  const c = update.candle ?? {};
  const values: Values = {};
  for (const [name, v] of Object.entries(update.values ?? {})) values[name] = toValue(v);
  return {
    time: nsToSeconds(c.time),
    open: c.open ?? Number.NaN,
    high: c.high ?? Number.NaN,
    low: c.low ?? Number.NaN,
    close: c.close ?? Number.NaN,
    volume: c.volume ?? 0,
    values,
    final: update.final ?? false,
  };
}

export type UpdateEffect = 'append' | 'replace-last' | 'replace' | 'stale';

// Applies one stream update: the forming bar changes (replace-last), a new bar starts (append),
// a bar before the last is finalised (replace) or the update is older than every row, or for a
// bar not loaded (stale: rows unchanged). The update's values replace the row's where given.
export function applyUpdate(rows: readonly Row[], update: Update): { rows: Row[]; effect: UpdateEffect } {
  const row = rowFromUpdate(update);
  const last = rows[rows.length - 1];
  if (last === undefined || row.time > last.time) {
    return { rows: [...rows, row], effect: 'append' };
  }
  const at = findRow(rows, row.time);
  if (at < 0) return { rows: rows.slice(), effect: 'stale' };
  const next = rows.slice();
  next[at] = { ...row, values: { ...(rows[at] as Row).values, ...row.values } };
  return { rows: next, effect: at === rows.length - 1 ? 'replace-last' : 'replace' };
}

// The index of the row at `time`, or -1 (binary search).
export function findRow(rows: readonly Row[], time: number): number {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const t = (rows[mid] as Row).time;
    if (t === time) return mid;
    if (t < time) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
