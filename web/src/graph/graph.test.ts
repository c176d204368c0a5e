import { describe, expect, test } from 'vitest';
import { ApiError } from '../api/client';
import type { FunctionDef, GraphSpec } from '../api/types';
import { inputSource, layoutGraph } from './layout';
import { checkForm, checkParam, fieldErrorsFromServer, freeId, initialForm, toNodeSpec } from './nodeForm';

const sma: FunctionDef = {
  name: 'sma',
  inputs: ['input'],
  params: [{ name: 'period', type: 'int', defaultValue: 20, min: 1, max: 100000 }],
  acceptsWindow: true,
};
const bbands: FunctionDef = {
  name: 'bbands',
  inputs: ['input'],
  outputs: ['upper', 'middle', 'lower'],
  params: [
    { name: 'period', type: 'int', defaultValue: 20, min: 2, max: 100000 },
    { name: 'k', type: 'double', defaultValue: 2, min: 0, max: 100 },
  ],
};
const add: FunctionDef = {
  name: 'add',
  inputs: ['a', 'b'],
  params: [
    {
      name: 'value',
      type: 'double',
      defaultValue: 0,
      min: -1.7976931348623157e308,
      max: 1.7976931348623157e308,
    },
  ],
};
const atr: FunctionDef = {
  name: 'atr',
  inputs: ['high', 'low', 'close'],
  params: [{ name: 'period', type: 'int', defaultValue: 14, min: 1, max: 100000 }],
};

const demo: GraphSpec = {
  name: 'demo',
  nodes: [
    { id: 'ret', fn: 'pct_change', inputs: ['close'], params: {} },
    { id: 'sma50', fn: 'sma', inputs: ['close'], params: { period: 50 } },
    { id: 'smooth', fn: 'ema', inputs: ['sma50'], params: { period: 5 } },
    { id: 'rsi', fn: 'rsi', inputs: ['close'], params: { period: 14 } },
    { id: 'rsi_ma', fn: 'sma', inputs: ['rsi'], params: { period: 5 } },
    { id: 'bb', fn: 'bbands', inputs: ['close'], params: { period: 20, k: 2 } },
    { id: 'mid', fn: 'ema', inputs: ['bb.middle'], params: { period: 3 } },
    { id: 'vol', fn: 'volatility', inputs: ['ret'], params: { period: 20 } },
    { id: 'beta', fn: 'beta', inputs: ['ret', 'SPY:ret'], params: { period: 20 } },
    { id: 'atr', fn: 'atr', inputs: [], params: { period: 14 } },
  ],
};

describe('the DAG drawing', () => {
  test('fields, assets and nodes are boxes; every input is an edge; sources come first', () => {
    const d = layoutGraph(demo);
    const box = (id: string) => d.boxes.find((b) => b.id === id);
    expect(box('close')?.kind).toBe('field');
    expect(box('SPY:ret')?.kind).toBe('asset');
    expect(box('sma50')).toMatchObject({ kind: 'node', detail: 'sma (period 50)' });
    // atr reads high, low and close when its inputs are not given.
    expect(d.edges.filter((e) => e.to === 'atr').map((e) => e.from)).toEqual(['high', 'low', 'close']);
    expect(d.edges.find((e) => e.to === 'mid')).toMatchObject({ from: 'bb', label: 'middle' });
    expect(d.edges).toHaveLength(8 + 2 + 3); // one-input nodes, beta, atr
    // Left to right: each edge goes from a box to one further right.
    for (const e of d.edges) expect(box(e.from)!.x).toBeLessThan(box(e.to)!.x);
    for (const e of d.edges) expect(e.points.length).toBeGreaterThanOrEqual(2);
    expect(d.width).toBeGreaterThan(0);
  });

  test('boxes do not overlap', () => {
    const { boxes } = layoutGraph(demo);
    for (const a of boxes)
      for (const b of boxes)
        if (a !== b) {
          const apart =
            Math.abs(a.x - b.x) * 2 >= a.width + b.width || Math.abs(a.y - b.y) * 2 >= a.height + b.height;
          expect(apart, `${a.id} and ${b.id} overlap`).toBe(true);
        }
  });

  test('inputs name fields, node outputs or other assets', () => {
    expect(inputSource('close')).toEqual({ id: 'close', kind: 'field', output: '' });
    expect(inputSource('bb.upper')).toEqual({ id: 'bb', kind: 'node', output: 'upper' });
    expect(inputSource('SPY:ret')).toEqual({ id: 'SPY:ret', kind: 'asset', output: '' });
  });
});

describe('the add-node form', () => {
  test('defaults come from the function: parameters, inputs and a free id', () => {
    const form = initialForm(bbands, new Set(['bbands20']));
    expect(form).toMatchObject({
      fn: 'bbands',
      id: 'bbands20_2',
      inputs: ['close'],
      params: { period: '20', k: '2' },
    });
    expect(initialForm(atr, new Set()).inputs).toEqual(['high', 'low', 'close']);
    expect(initialForm(add, new Set()).inputs).toEqual(['close', '']);
    expect(freeId(sma, { period: '50' }, new Set(['sma50', 'sma50_2']))).toBe('sma50_3');
  });

  test('parameters are checked for number, integer and range, with the server wording', () => {
    const period = sma.params![0]!;
    expect(checkParam(period, '50')).toBeNull();
    expect(checkParam(period, '0')).toBe("parameter 'period' = 0 is out of range [1, 100000]");
    expect(checkParam(period, '100001')).toBe("parameter 'period' = 100001 is out of range [1, 100000]");
    expect(checkParam(period, '2.5')).toBe("parameter 'period': '2.5' is not an integer");
    expect(checkParam(period, 'abc')).toBe("parameter 'period': 'abc' is not a number");
    expect(checkParam(period, '')).toBe("parameter 'period': required");
    expect(checkParam(bbands.params![1]!, '2.5')).toBeNull();
    expect(checkParam(add.params![0]!, '-1e300')).toBeNull();
  });

  test('the form is checked field by field', () => {
    const form = { ...initialForm(bbands, new Set()), id: '9bad', params: { period: '1', k: '200' } };
    expect(Object.keys(checkForm(bbands, form)).sort()).toEqual(['id', 'param:k', 'param:period']);
    expect(checkForm(bbands, initialForm(bbands, new Set()))).toEqual({});
    expect(checkForm(sma, { ...initialForm(sma, new Set()), inputs: [''] })).toEqual({
      'input:0': "input 'input': required",
    });
    // A window replaces the period, which is then not checked.
    expect(checkForm(sma, { ...initialForm(sma, new Set()), params: { period: '0' }, window: '5m' })).toEqual(
      {},
    );
  });

  test('the node sent has numbers for parameters and stops at the first empty input', () => {
    expect(toNodeSpec(bbands, { ...initialForm(bbands, new Set()), id: ' bb2 ' })).toEqual({
      id: 'bb2',
      fn: 'bbands',
      inputs: ['close'],
      params: { period: 20, k: 2 },
    });
    expect(toNodeSpec(add, { ...initialForm(add, new Set()), id: 'x' }).inputs).toEqual(['close']);
    expect(toNodeSpec(sma, { ...initialForm(sma, new Set()), id: 's', window: '3d' }).params).toEqual({
      window: '3d',
    });
  });

  test("the server's error goes to the field its details name", () => {
    const form = { ...initialForm(sma, new Set()), id: 'n', inputs: ['clos'] };
    const err = (message: string, details: Record<string, string>) =>
      new ApiError(400, { code: 'invalid_argument', message, details });
    expect(
      fieldErrorsFromServer(
        err("node 'n': parameter 'period' = 0 is out of range", { node: 'n', parameter: 'period' }),
        form,
      ),
    ).toEqual({ 'param:period': "node 'n': parameter 'period' = 0 is out of range" });
    expect(
      fieldErrorsFromServer(err("node 'n': unknown input 'clos'", { node: 'n', input: 'clos' }), form),
    ).toEqual({ 'input:0': "node 'n': unknown input 'clos'" });
    expect(fieldErrorsFromServer(err("node 'n': defined twice", { node: 'n' }), form)).toEqual({
      id: "node 'n': defined twice",
    });
    expect(fieldErrorsFromServer(err("node 'other': cycle", { node: 'other' }), form)).toEqual({
      form: "node 'other': cycle",
    });
    expect(fieldErrorsFromServer(err('store: unavailable', {}), form)).toEqual({
      form: 'store: unavailable',
    });
  });
});
