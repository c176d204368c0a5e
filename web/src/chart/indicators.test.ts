import { describe, expect, test } from 'vitest';
import type { FunctionDef, FunctionList, GraphSpec, NodeSpec } from '../api/types';
import served from '../api/functions.json?raw';
import { classifyNodes, defaultVisible, placeSeries, seriesStyles, type NodeDisplay } from './indicators';

// The registry as GET /v1/functions serves it (tests/e2e/test_server.py keeps the file equal).
const registry: FunctionDef[] = (JSON.parse(served) as FunctionList).functions ?? [];

// A graph of these nodes with the output columns the server would list.
function graph(nodes: NodeSpec[]): { spec: GraphSpec; outputs: string[] } {
  const outputs = nodes.flatMap((n) => {
    const names = registry.find((f) => f.name === n.fn)?.outputs ?? [];
    return names.length === 0 ? [n.id ?? ''] : names.map((o) => `${n.id}.${o}`);
  });
  return { spec: { name: 't', nodes }, outputs };
}

const node = (
  id: string,
  fn: string,
  inputs: string[] = [],
  params: Record<string, unknown> = {},
): NodeSpec => ({
  id,
  fn,
  inputs,
  params,
});

// Where each output goes, as the chart places it when every node is shown.
function place(nodes: NodeSpec[]): Record<string, { pane: number; priceScale: string }> {
  const g = graph(nodes);
  return Object.fromEntries(placeSeries(classifyNodes(g.spec, g.outputs, registry)));
}

describe('where outputs are drawn', () => {
  test('the registry served has units for every output (the fixture is current)', () => {
    expect(registry.length).toBeGreaterThan(20);
    for (const f of registry) expect(f.outputUnits?.length, f.name).toBe(Math.max(1, f.outputs?.length ?? 0));
  });

  test('vwap, reading the bar fields, is on the price scale', () => {
    const p = place([node('vw', 'vwap', [], { period: 20 })]);
    expect(p.vw).toEqual({ pane: 0, priceScale: 'right' });
  });

  test('averages, bands and extremes of a price, and averages of those, are on the price scale', () => {
    const p = place([
      node('sma50', 'sma', ['close']),
      node('smooth', 'ema', ['sma50']),
      node('bb', 'bbands', ['close']),
      node('mid', 'ema', ['bb.middle']),
      node('hi', 'rolling_max', ['high']),
    ]);
    for (const o of ['sma50', 'smooth', 'bb.upper', 'bb.middle', 'bb.lower', 'mid', 'hi'])
      expect(p[o], o).toEqual({ pane: 0, priceScale: 'right' });
  });

  test('an sma of rsi is in the rsi pane, not on the price scale nor in a pane of its own', () => {
    const p = place([node('rsi', 'rsi', ['close']), node('rsi_ma', 'sma', ['rsi'])]);
    expect(p.rsi?.pane).toBe(1);
    expect(p.rsi_ma).toEqual(p.rsi);
  });

  test('macd is in a pane of its own, apart from the price and rsi; its three lines together', () => {
    const p = place([node('rsi', 'rsi', ['close']), node('m', 'macd', ['close'])]);
    expect(p['m.macd']?.pane).toBeGreaterThan(0);
    expect(p['m.macd']?.pane).not.toBe(p.rsi?.pane);
    expect(p['m.signal']).toEqual(p['m.macd']);
    expect(p['m.hist']).toEqual(p['m.macd']);
  });

  test('price differences share a pane: macd, momentum, atr, stddev, close - sma', () => {
    const p = place([
      node('m', 'macd', ['close']),
      node('mom', 'mom', ['close']),
      node('atr', 'atr'),
      node('sd', 'stddev', ['close']),
      node('sma', 'sma', ['close']),
      node('gap', 'sub', ['close', 'sma']),
    ]);
    for (const o of ['mom', 'atr', 'sd', 'gap']) expect(p[o], o).toEqual(p['m.macd']);
    expect(p.sma?.pane).toBe(0);
    // A variance is in price squared: not with the differences.
    const v = place([node('sd', 'stddev', ['close']), node('v', 'var', ['close'])]);
    expect(v.v?.pane).toBeGreaterThan(0);
    expect(v.v?.pane).not.toBe(v.sd?.pane);
  });

  test('oscillators share a pane when their range is the same', () => {
    const p = place([
      node('rsi', 'rsi', ['close']),
      node('st', 'stoch'),
      node('wr', 'willr'),
      node('c', 'correlation', ['close', 'SPY:close']),
    ]);
    expect(p['st.slowk']).toEqual(p.rsi);
    expect(p['st.slowd']).toEqual(p.rsi);
    const panes = new Set([p.rsi?.pane, p.wr?.pane, p.c?.pane]);
    expect(panes.size).toBe(3); // 0..100, -100..0, -1..1
  });

  test('returns, their volatility and drawdowns share the ratio pane; roc (percent) has another', () => {
    const p = place([
      node('ret', 'pct_change', ['close']),
      node('vol', 'volatility', ['ret']),
      node('lr', 'log_return', ['close']),
      node('dd', 'drawdown', ['close']),
      node('roc', 'roc', ['close']),
    ]);
    for (const o of ['vol', 'lr', 'dd']) expect(p[o], o).toEqual(p.ret);
    expect(p.roc?.pane).toBeGreaterThan(0);
    expect(p.roc?.pane).not.toBe(p.ret?.pane);
  });

  test('an average of volume is on the volume bars; obv, a running total, is in a pane', () => {
    const p = place([node('vma', 'sma', ['volume']), node('obv', 'obv')]);
    expect(p.vma).toEqual({ pane: 0, priceScale: 'volume' });
    expect(p.obv?.pane).toBe(1);
  });

  test('unbounded outputs have a pane each, which what follows them shares', () => {
    const p = place([
      node('z', 'zscore', ['close']),
      node('z_ma', 'ema', ['z']),
      node('cci', 'cci'),
      node('ret', 'pct_change', ['close']),
      node('beta', 'beta', ['ret', 'SPY:ret']),
    ]);
    expect(p.z?.pane).toBe(1);
    expect(p.z_ma).toEqual(p.z);
    expect(new Set([p.z?.pane, p.cci?.pane, p.ret?.pane, p.beta?.pane]).size).toBe(4);
  });

  test("another asset's price is not on this chart's price scale; its returns are ratios", () => {
    const p = place([
      node('ret', 'pct_change', ['close']),
      node('spy', 'sma', ['SPY:close']),
      node('spy_ret', 'ema', ['SPY:ret']),
    ]);
    expect(p.spy?.pane).toBeGreaterThan(0);
    expect(p.spy_ret).toEqual(p.ret);
  });

  test('a function the registry does not list gets a pane of its own', () => {
    const p = place([node('a', 'no_such_fn', ['close']), node('b', 'sma', ['a'])]);
    expect(p.a?.pane).toBe(1);
    expect(p.b).toEqual(p.a);
  });

  test('panes are numbered from 1 in the order their scales first appear', () => {
    const p = place([
      node('m', 'macd', ['close']),
      node('rsi', 'rsi', ['close']),
      node('mom', 'mom', ['close']),
    ]);
    expect([p['m.macd']?.pane, p.rsi?.pane, p.mom?.pane]).toEqual([1, 2, 1]);
  });
});

describe('what is shown', () => {
  const demo = graph([
    node('ret', 'pct_change', ['close']),
    node('sma50', 'sma', ['close'], { period: 50 }),
    node('rsi', 'rsi', ['close']),
    node('rsi_ma', 'sma', ['rsi']),
    node('bb', 'bbands', ['close']),
    node('vw', 'vwap'),
    node('vol', 'volatility', ['ret']),
    node('m', 'macd', ['close']),
  ]);
  const nodes: NodeDisplay[] = classifyNodes(demo.spec, demo.outputs, registry);

  test('overlays are the nodes wholly on the price scale', () => {
    expect(nodes.filter((n) => n.overlay).map((n) => n.node)).toEqual(['sma50', 'bb', 'vw']);
  });

  test('shown by default: the overlays, rsi, macd and volatility', () => {
    expect(defaultVisible(nodes)).toEqual(['sma50', 'rsi', 'bb', 'vw', 'vol', 'm']);
  });

  test('each output has its own colour; histograms for .hist', () => {
    const styles = seriesStyles(nodes);
    expect(styles.get('m.hist')?.kind).toBe('histogram');
    expect(styles.get('m.macd')?.kind).toBe('line');
    expect(styles.get('m.macd')?.color).not.toBe(styles.get('m.signal')?.color);
  });
});
