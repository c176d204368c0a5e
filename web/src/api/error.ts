// The server's refusals as values: every non-2xx answer becomes an ApiError carrying the
// server's Error (code, message, details), whether it came from the REST API or the token
// endpoint (whose RFC 6749 errors carry the same code and message beside error and
// error_description).
import type { ApiErrorBody } from './types';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, string>;
  readonly retryAfterS: number | null; // from Retry-After, on a 429

  constructor(status: number, body: ApiErrorBody, retryAfterS: number | null = null) {
    super(body.message ?? `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = body.code ?? 'unknown';
    this.details = body.details ?? {};
    this.retryAfterS = retryAfterS;
  }
}

// The JSON body of `response` (undefined when empty); throws an ApiError for a non-2xx status,
// or for a body that is not JSON (`what` names the request in that message).
export async function readJson(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  let body: unknown = undefined;
  if (text.length > 0) {
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError(response.status, {
        code: 'bad_response',
        message: `${what}: not JSON (HTTP ${response.status})`,
      });
    }
  }
  if (!response.ok) {
    const retry = Number(response.headers.get('Retry-After') ?? Number.NaN);
    const error = typeof body === 'object' && body !== null ? (body as ApiErrorBody) : {};
    throw new ApiError(response.status, error, Number.isFinite(retry) ? retry : null);
  }
  return body;
}

// What to show for a failed call: the server's message, or why there was no answer.
export function errorText(e: unknown): string {
  if (e instanceof ApiError) {
    return e.retryAfterS !== null ? `${e.message} (try again in ${e.retryAfterS} s)` : e.message;
  }
  return `the server did not answer: ${e instanceof Error ? e.message : String(e)}`;
}
