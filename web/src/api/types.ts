// The API's messages, as generated from the server's OpenAPI document (src/api/openapi.json,
// which a server test keeps equal to GET /openapi.json). Every REST body and stream message the
// UI reads or sends has one of these types.
import type { components } from './schema.gen';

type Schemas = components['schemas'];
export type Asset = Schemas['tickgraph.v1.Asset'];
export type AssetList = Schemas['tickgraph.v1.AssetList'];
export type Candle = Schemas['tickgraph.v1.Candle'];
export type CandleSeries = Schemas['tickgraph.v1.CandleSeries'];
export type AnalyticsResult = Schemas['tickgraph.v1.AnalyticsResult'];
export type ApiErrorBody = Schemas['tickgraph.v1.Error'];
export type FunctionDef = Schemas['tickgraph.v1.Function'];
export type FunctionList = Schemas['tickgraph.v1.FunctionList'];
export type FunctionOutput = Schemas['tickgraph.v1.FunctionOutput'];
export type FunctionParam = Schemas['tickgraph.v1.FunctionParam'];
export type Graph = Schemas['tickgraph.v1.Graph'];
export type GraphList = Schemas['tickgraph.v1.GraphList'];
export type GraphSpec = Schemas['tickgraph.v1.GraphSpec'];
export type NodeSpec = Schemas['tickgraph.v1.NodeSpec'];
export type Interval = Schemas['tickgraph.v1.Interval'];
export type ClientMessage = Schemas['tickgraph.v1.ClientMessage'];
export type StreamMessage = Schemas['tickgraph.v1.StreamMessage'];
export type Snapshot = Schemas['tickgraph.v1.Snapshot'];
export type Subscribe = Schemas['tickgraph.v1.Subscribe'];
export type Update = Schemas['tickgraph.v1.Update'];

// The intervals the server builds, in the short form its query parameters take.
export const INTERVALS = ['1s', '1m', '5m', '15m', '1h', '4h', '1d', '1w'] as const;
export type IntervalName = (typeof INTERVALS)[number];

export function intervalEnum(name: IntervalName): Interval {
  return `INTERVAL_${name.toUpperCase()}` as Interval;
}

export function isIntervalName(text: string | null): text is IntervalName {
  return text !== null && (INTERVALS as readonly string[]).includes(text);
}

// Seconds per bar, for the time axis and the date range presets.
export const INTERVAL_SECONDS: Record<IntervalName, number> = {
  '1s': 1,
  '1m': 60,
  '5m': 300,
  '15m': 900,
  '1h': 3600,
  '4h': 14400,
  '1d': 86400,
  '1w': 604800,
};
