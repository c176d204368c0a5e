// What scale each output of a graph is on, from the units the registry gives (/v1/functions,
// Function.outputUnits) and the inputs each node reads. A unit that follows an input resolves
// through it: an sma of close is a price, an sma of rsi is on rsi's 0..100 range, a mom of close
// is a price difference, and so on down the graph. The result is a scale key; outputs with equal
// keys are drawn on one scale (see placeSeries in indicators.ts):
//   'price', 'volume'            the chart asset's candles and volume bars
//   'price of SPY', …            another asset's prices or volumes
//   'range 0..100', …            a bounded unit
//   'ratio', 'percent'           fractions (0.01 = 1 %) and percentages
//   'units of price', …          the units of a scale but not its level (differences, spreads)
//   'square of price', …         the square of a scale's units (variance)
//   'node rsi_z', …              no shared scale: the node's own (and what follows it)
import type { FunctionDef, FunctionOutput, GraphSpec, NodeSpec } from '../api/types';

export type Scale = string;
export const PRICE: Scale = 'price';
export const VOLUME: Scale = 'volume';

const PRICE_FIELDS = new Set(['open', 'high', 'low', 'close']);

function fieldScale(field: string, asset: string): Scale | null {
  const base = PRICE_FIELDS.has(field) ? PRICE : field === 'volume' ? VOLUME : null;
  if (base === null) return null;
  return asset === '' ? base : `${base} of ${asset}`;
}

// The unit of output `output` ("" for a function's one output) of `fn`, or undefined when the
// registry does not say (an unknown function, an older server).
export function outputUnit(fn: FunctionDef | undefined, output: string): FunctionOutput | undefined {
  const units = fn?.outputUnits ?? [];
  if (output === '') return units.length === 1 ? units[0] : undefined;
  return units.find((u) => u.name === output);
}

function unitsOf(scale: Scale, own: Scale): Scale {
  if (scale === 'ratio' || scale === 'percent') return scale; // a change of a fraction is one
  if (scale.startsWith('node ')) return own;
  if (scale.startsWith('units of ') || scale.startsWith('square of ')) return scale;
  return `units of ${scale}`;
}

function squareOf(scale: Scale, own: Scale): Scale {
  if (scale.startsWith('node ')) return own;
  if (scale.startsWith('square of ')) return own; // a fourth power: nothing to share it with
  return `square of ${scale.startsWith('units of ') ? scale.slice('units of '.length) : scale}`;
}

// Resolves the scales of a graph's node outputs. Inputs name bar fields ("close"), node outputs
// ("rsi", "bb.middle") or another asset's ("SPY:close", "SPY:ret": the same graph's node over
// that asset).
export class ScaleResolver {
  private readonly nodes: Map<string, NodeSpec>;
  private readonly functions: Map<string, FunctionDef>;
  private readonly memo = new Map<string, Scale>();
  private readonly visiting = new Set<string>();

  constructor(spec: GraphSpec, functions: readonly FunctionDef[]) {
    this.nodes = new Map((spec.nodes ?? []).map((n) => [n.id ?? '', n]));
    this.functions = new Map(functions.map((f) => [f.name ?? '', f]));
  }

  // The scale of output `output` ("" for a node's one output) of node `id`.
  output(id: string, output: string, asset = ''): Scale {
    const key = `${asset}:${id}.${output}`;
    const known = this.memo.get(key);
    if (known !== undefined) return known;
    const own = asset === '' ? `node ${id}` : `node ${id} of ${asset}`;
    if (this.visiting.has(key)) return own; // a cycle: the server refuses such graphs
    this.visiting.add(key);
    const scale = this.resolve(id, output, asset, own);
    this.visiting.delete(key);
    this.memo.set(key, scale);
    return scale;
  }

  private inputOf(name: string, asset: string): Scale {
    const field = fieldScale(name, asset);
    if (field !== null) return field;
    const dot = name.indexOf('.');
    return dot < 0
      ? this.output(name, '', asset)
      : this.output(name.slice(0, dot), name.slice(dot + 1), asset);
  }

  private resolve(id: string, output: string, asset: string, own: Scale): Scale {
    const node = this.nodes.get(id);
    const fn = this.functions.get(node?.fn ?? '');
    const unit = outputUnit(fn, output);
    if (!node || !fn || !unit) return own;
    const followed = (): Scale | null => {
      const k = unit.input ?? -1;
      const given = node.inputs ?? [];
      // A node naming no inputs reads the bar fields its function's inputs are named after.
      const text = given.length > 0 ? given[k] : fn.inputs?.[k];
      if (text === undefined) return null;
      const colon = text.indexOf(':');
      return colon < 0
        ? this.inputOf(text, asset)
        : this.inputOf(text.slice(colon + 1), text.slice(0, colon));
    };
    switch (unit.unit) {
      case 'UNIT_SAME_AS_INPUT':
        return followed() ?? own;
      case 'UNIT_SAME_UNITS_AS_INPUT': {
        const s = followed();
        return s === null ? own : unitsOf(s, own);
      }
      case 'UNIT_SQUARE_OF_INPUT': {
        const s = followed();
        return s === null ? own : squareOf(s, own);
      }
      case 'UNIT_BOUNDED':
        return `range ${unit.min ?? '?'}..${unit.max ?? '?'}`;
      case 'UNIT_PERCENT':
        return 'percent';
      case 'UNIT_RATIO':
        return 'ratio';
      default:
        return own;
    }
  }
}
