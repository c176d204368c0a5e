// REST calls. Every response body is parsed as the message the OpenAPI document declares; an
// error response becomes an ApiError carrying the server's Error (code, message, details).
import type {
  AnalyticsResult,
  ApiErrorBody,
  AssetList,
  CandleSeries,
  FunctionList,
  Graph,
  GraphList,
  GraphSpec,
  IntervalName,
} from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, string>;

  constructor(status: number, body: ApiErrorBody) {
    super(body.message ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code ?? 'unknown';
    this.details = body.details ?? {};
  }
}

async function request<T>(path: string, init?: RequestInit): Promise<T> {
  const response = await fetch(path, init);
  const text = await response.text();
  let body: unknown = undefined;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(response.status, {
        code: 'bad_response',
        message: `${path}: not JSON (HTTP ${response.status})`,
      });
    }
  }
  if (!response.ok) throw new ApiError(response.status, (body ?? {}) as ApiErrorBody);
  return body as T;
}

// A time as the server's query parameters take it: epoch nanoseconds with the unit suffix.
export function nsParam(ns: bigint): string {
  return `${ns}ns`;
}

export interface RangeQuery {
  interval: IntervalName;
  from?: bigint; // ns, inclusive
  to?: bigint; // ns, inclusive
  last?: number; // the latest this many bars of the range
}

function rangeParams(q: RangeQuery): URLSearchParams {
  const p = new URLSearchParams({ interval: q.interval });
  if (q.from !== undefined) p.set('from', nsParam(q.from));
  if (q.to !== undefined) p.set('to', nsParam(q.to));
  if (q.last !== undefined) p.set('last', String(q.last));
  return p;
}

export const api = {
  assets: () => request<AssetList>('/v1/assets'),
  candles: (symbol: string, q: RangeQuery) =>
    request<CandleSeries>(`/v1/assets/${encodeURIComponent(symbol)}/candles?${rangeParams(q)}`),
  analytics: (symbol: string, graph: string, outputs: string[], q: RangeQuery) => {
    const p = rangeParams({ ...q, last: undefined });
    p.set('graph', graph);
    if (outputs.length > 0) p.set('outputs', outputs.join(','));
    return request<AnalyticsResult>(`/v1/assets/${encodeURIComponent(symbol)}/analytics?${p}`);
  },
  graphs: () => request<GraphList>('/v1/graphs'),
  graph: (id: string) => request<Graph>(`/v1/graphs/${encodeURIComponent(id)}`),
  replaceGraph: (id: string, spec: GraphSpec) =>
    request<Graph>(`/v1/graphs/${encodeURIComponent(id)}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(spec),
    }),
  functions: () => request<FunctionList>('/v1/functions'),
};
