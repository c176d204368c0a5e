// The add-node form's logic, apart from its rendering: defaults from the function's description
// (/v1/functions), the range and type checks the server also makes, the NodeSpec it sends, and
// which field a server error belongs to.
import type { ApiError } from '../api/client';
import type { FunctionDef, FunctionParam, NodeSpec } from '../api/types';

export interface NodeForm {
  fn: string;
  id: string;
  inputs: string[]; // one per function input; "" leaves it (and those after it) out
  params: Record<string, string>; // as typed
  window: string; // "5m", "3d": replaces period for functions that accept a window
}

// Where a message is shown: "id", "fn", "window", "input:<index>", "param:<name>", or "form".
export type FieldErrors = Record<string, string>;

const FIELD_INPUTS = new Set(['open', 'high', 'low', 'close', 'volume']);

export function defaultInput(name: string): string {
  if (FIELD_INPUTS.has(name)) return name;
  if (name === 'input' || name === 'a') return 'close';
  return '';
}

// A node id not yet in the graph: "sma50", then "sma50_2", …
export function freeId(fn: FunctionDef, params: Record<string, string>, taken: ReadonlySet<string>): string {
  const period = params.period ?? '';
  const base = `${fn.name ?? 'node'}${/^\d+$/.test(period) ? period : ''}`;
  if (!taken.has(base)) return base;
  for (let i = 2; ; ++i) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}

export function initialForm(fn: FunctionDef, taken: ReadonlySet<string>): NodeForm {
  const params: Record<string, string> = {};
  for (const p of fn.params ?? []) params[p.name ?? ''] = String(p.defaultValue ?? 0);
  return {
    fn: fn.name ?? '',
    id: freeId(fn, params, taken),
    inputs: (fn.inputs ?? []).map(defaultInput),
    params,
    window: '',
  };
}

function bound(v: number | undefined): string {
  if (v === undefined) return '?';
  return Math.abs(v) > 1e300 ? (v < 0 ? '-inf' : 'inf') : String(v);
}

// The message for a parameter's text, or null when it is a valid value of the parameter.
export function checkParam(p: FunctionParam, text: string): string | null {
  const name = p.name ?? '';
  if (text.trim() === '') return `parameter '${name}': required`;
  const v = Number(text);
  if (!Number.isFinite(v)) return `parameter '${name}': '${text}' is not a number`;
  if (p.type === 'int' && !Number.isInteger(v)) return `parameter '${name}': '${text}' is not an integer`;
  const min = p.min ?? -Infinity;
  const max = p.max ?? Infinity;
  if (v < min || v > max)
    return `parameter '${name}' = ${text} is out of range [${bound(p.min)}, ${bound(p.max)}]`;
  return null;
}

const ID = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function checkForm(fn: FunctionDef, form: NodeForm): FieldErrors {
  const errors: FieldErrors = {};
  if (!ID.test(form.id)) errors.id = 'use letters, digits and _, starting with a letter or _';
  const usesWindow = fn.acceptsWindow === true && form.window.trim() !== '';
  for (const p of fn.params ?? []) {
    const name = p.name ?? '';
    if (usesWindow && name === 'period') continue;
    const message = checkParam(p, form.params[name] ?? '');
    if (message) errors[`param:${name}`] = message;
  }
  const firstEmpty = form.inputs.findIndex((i) => i.trim() === '');
  if (
    firstEmpty === 0 &&
    (fn.inputs?.length ?? 0) > 0 &&
    !(fn.inputs ?? []).every((i) => FIELD_INPUTS.has(i))
  ) {
    errors['input:0'] = `input '${fn.inputs?.[0] ?? ''}': required`;
  }
  return errors;
}

export function toNodeSpec(fn: FunctionDef, form: NodeForm): NodeSpec {
  const params: Record<string, unknown> = {};
  const usesWindow = fn.acceptsWindow === true && form.window.trim() !== '';
  for (const p of fn.params ?? []) {
    const name = p.name ?? '';
    if (usesWindow && name === 'period') continue;
    params[name] = Number(form.params[name]);
  }
  if (usesWindow) params.window = form.window.trim();
  const firstEmpty = form.inputs.findIndex((i) => i.trim() === '');
  const inputs = (firstEmpty < 0 ? form.inputs : form.inputs.slice(0, firstEmpty)).map((i) => i.trim());
  return { id: form.id.trim(), fn: fn.name ?? '', inputs, params };
}

// Puts the server's 400 for a graph with the new node next to the field it is about: its
// details name the node and, when it is about one, the parameter or the input. A refusal of the
// credential (401, a 403 for one without the 'write' scope, a 429) is about the whole form.
export function fieldErrorsFromServer(e: ApiError, form: NodeForm): FieldErrors {
  if (e.status === 401 || e.status === 403 || e.status === 429) return { form: e.message };
  const { node, parameter, input } = e.details;
  if (node !== undefined && node !== form.id) return { form: e.message };
  if (parameter !== undefined)
    return { [parameter === 'window' ? 'window' : `param:${parameter}`]: e.message };
  if (input !== undefined) {
    const at = form.inputs.findIndex((i) => i.trim() === input);
    return { [at >= 0 ? `input:${at}` : 'input:0']: e.message };
  }
  if (node !== undefined && /defined twice|node id|bar field/.test(e.message)) return { id: e.message };
  if (node !== undefined && /unknown function/.test(e.message)) return { fn: e.message };
  return { form: e.message };
}
