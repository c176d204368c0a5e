import { describe, expect, test } from 'vitest';
import type { CandleSeries, Update } from '../api/types';
import {
  applyUpdate,
  findRow,
  mergeRows,
  mergeSnapshot,
  rowsFromColumns,
  rowsFromSnapshot,
  withValues,
  type Row,
} from './series';

const S = 1_000_000_000n;
const ns = (s: number) => String(BigInt(s) * S);

function candles(times: number[], close = (t: number) => t / 10): CandleSeries {
  return {
    symbol: 'X',
    interval: 'INTERVAL_1M',
    ts: times.map(ns),
    open: times.map(close),
    high: times.map((t) => close(t) + 1),
    low: times.map((t) => close(t) - 1),
    close: times.map(close),
    volume: times.map(() => 5),
  };
}

function row(time: number, close: number, values: Row['values'] = {}, final = true): Row {
  return { time, open: close, high: close, low: close, close, volume: 1, values, final };
}

function update(time: number, close: number, final: boolean, values: Update['values'] = {}): Update {
  return {
    symbol: 'X',
    interval: 'INTERVAL_1M',
    candle: { time: ns(time), open: close, high: close, low: close, close, volume: 2 },
    final,
    values,
  };
}

describe('rowsFromColumns', () => {
  test('turns nanosecond strings into seconds and matches analytics rows by time', () => {
    const rows = rowsFromColumns(candles([60, 120, 180]), {
      ts: [ns(120), ns(180), ns(240)],
      series: [
        { name: 'sma', values: [null, 1.5, 9] },
        { name: 'r', values: ['NaN', 'Infinity', 0] },
      ],
    });
    expect(rows.map((r) => r.time)).toEqual([60, 120, 180]);
    expect(rows.map((r) => r.values.sma)).toEqual([undefined, null, 1.5]);
    expect(rows[1]?.values.r).toBeNaN();
    expect(rows[2]?.values.r).toBe(Number.POSITIVE_INFINITY);
    expect(rows.every((r) => r.final)).toBe(true);
  });

  test('keeps full int64 precision of times far from the epoch', () => {
    const rows = rowsFromColumns({
      ts: ['1587081600000000000'],
      open: [1],
      high: [1],
      low: [1],
      close: [1],
      volume: [1],
    });
    expect(rows[0]?.time).toBe(1587081600);
  });
});

describe('mergeRows', () => {
  test('is the sorted union; on equal times the newer bar wins and values combine', () => {
    const older = [row(1, 10, { a: 1 }), row(2, 20, { a: 2 }), row(4, 40)];
    const newer = [row(2, 21, { b: 3 }), row(3, 30), row(5, 50)];
    const merged = mergeRows(older, newer);
    expect(merged.map((r) => [r.time, r.close])).toEqual([
      [1, 10],
      [2, 21],
      [3, 30],
      [4, 40],
      [5, 50],
    ]);
    expect(merged[1]?.values).toEqual({ a: 2, b: 3 });
  });

  test('leaves its arguments unchanged and handles empty sides', () => {
    const a = [row(1, 1)];
    expect(mergeRows(a, [])).toEqual(a);
    expect(mergeRows([], a)).toEqual(a);
    expect(mergeRows(a, [])).not.toBe(a);
    mergeRows(a, [row(1, 2, { x: 1 })]);
    expect(a[0]?.close).toBe(1);
    expect(a[0]?.values).toEqual({});
  });

  test('an older page put before the loaded rows gives one ascending list', () => {
    const loaded = rowsFromColumns(candles([300, 360, 420]));
    const older = rowsFromColumns(candles([120, 180, 240, 300]));
    const merged = mergeRows(older, loaded);
    expect(merged.map((r) => r.time)).toEqual([120, 180, 240, 300, 360, 420]);
  });
});

describe('applyUpdate', () => {
  const base = [row(60, 1, { sma: 1 }), row(120, 2, { sma: 2 })];

  test('a change of the forming bar replaces the last row', () => {
    const { rows, effect } = applyUpdate(base, update(120, 2.5, false, { sma: 2.25 }));
    expect(effect).toBe('replace-last');
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ time: 120, close: 2.5, final: false, values: { sma: 2.25 } });
    expect(base[1]?.close).toBe(2);
  });

  test('a new bar is appended', () => {
    const { rows, effect } = applyUpdate(base, update(180, 3, false, { sma: null }));
    expect(effect).toBe('append');
    expect(rows.map((r) => r.time)).toEqual([60, 120, 180]);
    expect(rows[2]?.values.sma).toBeNull();
  });

  test('the final values of an earlier bar replace it in place; unknown bars are stale', () => {
    const withForming = [...base, row(180, 3, {}, false)];
    const fin = applyUpdate(withForming, update(120, 2.1, true, { sma: 2.05 }));
    expect(fin.effect).toBe('replace');
    expect(fin.rows[1]).toMatchObject({ close: 2.1, final: true, values: { sma: 2.05 } });
    const stale = applyUpdate(base, update(30, 9, true));
    expect(stale.effect).toBe('stale');
    expect(stale.rows).toEqual(base);
  });

  test('an update without values keeps the row values it had', () => {
    const { rows } = applyUpdate(base, update(120, 2.2, false));
    expect(rows[1]?.values).toEqual({ sma: 2 });
  });

  test('the first update of an empty chart is its first row', () => {
    const { rows, effect } = applyUpdate([], update(60, 1, false));
    expect(effect).toBe('append');
    expect(rows).toHaveLength(1);
  });
});

describe('rowsFromSnapshot', () => {
  test('closed bars of the symbol with their analytics, then the forming bar', () => {
    const rows = rowsFromSnapshot(
      {
        candles: [candles([60, 120]), { ...candles([60]), symbol: 'Y' }],
        analytics: [{ symbol: 'X', ts: [ns(60), ns(120)], series: [{ name: 'sma', values: [null, 7] }] }],
        forming: [update(180, 3, false, { sma: 8 }), { ...update(180, 99, false), symbol: 'Y' }],
      },
      'X',
    );
    expect(rows.map((r) => [r.time, r.final, r.values.sma])).toEqual([
      [60, true, null],
      [120, true, 7],
      [180, false, 8],
    ]);
  });
});

test('withValues adds columns by time without touching the rows given', () => {
  const rows = [row(60, 1), row(120, 2)];
  const out = withValues(rows, { ts: [ns(120)], series: [{ name: 'x', values: [5] }] });
  expect(out[1]?.values).toEqual({ x: 5 });
  expect(rows[1]?.values).toEqual({});
});

test('findRow is a binary search', () => {
  const rows = Array.from({ length: 1001 }, (_, i) => row(i * 60, i));
  for (const i of [0, 1, 500, 999, 1000]) expect(findRow(rows, i * 60)).toBe(i);
  expect(findRow(rows, 61)).toBe(-1);
  expect(findRow([], 0)).toBe(-1);
});

test('a snapshot adds bars and replaces the forming one, but loaded closed bars keep their values', () => {
  const loaded = [
    row(60, 1, { sma: 1.0000000000000002 }),
    row(120, 2, { sma: 2 }),
    row(180, 3, { sma: 3 }, false),
  ];
  const snapshot = [
    row(120, 2, { sma: 2.0000000000000004, ema: 7 }),
    row(180, 3.5, { sma: 3.25 }),
    row(240, 4, { sma: 4 }, false),
  ];
  const merged = mergeSnapshot(loaded, snapshot);
  expect(merged.map((r) => [r.time, r.close, r.final])).toEqual([
    [60, 1, true],
    [120, 2, true],
    [180, 3.5, true],
    [240, 4, false],
  ]);
  expect(merged[1]?.values).toEqual({ sma: 2, ema: 7 }); // kept, and the missing output added
  expect(merged[2]?.values).toEqual({ sma: 3.25 }); // the forming bar closed: the stream's
  expect(loaded[1]?.values).toEqual({ sma: 2 });
});
