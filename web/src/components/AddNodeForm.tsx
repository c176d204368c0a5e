// Adds a node to the current graph: a function from /v1/functions, its inputs and parameters
// (defaults filled, ranges checked before sending). The server's verdict on the new graph comes
// back as an ApiError whose message is shown next to the field it names.
import { useId, useMemo, useState, type FormEvent } from 'react';
import { ApiError } from '../api/client';
import type { FunctionDef, NodeSpec } from '../api/types';
import {
  checkForm,
  fieldErrorsFromServer,
  initialForm,
  toNodeSpec,
  type FieldErrors,
  type NodeForm,
} from '../graph/nodeForm';

export interface AddNodeFormProps {
  functions: FunctionDef[];
  nodeIds: ReadonlySet<string>;
  inputChoices: string[]; // bar fields and the graph's outputs
  onAdd: (node: NodeSpec) => Promise<void>; // rejects with the server's ApiError
}

const inputClass =
  'w-full rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-900 aria-[invalid=true]:border-red-500';

function FieldError({ id, message }: { id: string; message: string | undefined }) {
  if (!message) return null;
  return (
    <p
      id={id}
      role="alert"
      className="mt-0.5 text-xs text-red-600 dark:text-red-400"
      data-testid={`error-${id}`}
    >
      {message}
    </p>
  );
}

export function AddNodeForm({ functions, nodeIds, inputChoices, onAdd }: AddNodeFormProps) {
  const uid = useId();
  const byName = useMemo(() => new Map(functions.map((f) => [f.name ?? '', f])), [functions]);
  const first = byName.get('sma') ?? functions[0];
  const [form, setForm] = useState<NodeForm | null>(first ? initialForm(first, nodeIds) : null);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const [added, setAdded] = useState<string | null>(null);
  const fn = form ? byName.get(form.fn) : undefined;
  if (!form || !fn) return <p className="text-sm text-slate-500">Loading functions…</p>;

  const set = (patch: Partial<NodeForm>) => {
    setForm({ ...form, ...patch });
    setAdded(null);
  };
  const pickFunction = (name: string) => {
    const f = byName.get(name);
    if (f) setForm(initialForm(f, nodeIds));
    setErrors({});
    setAdded(null);
  };
  const fieldId = (key: string) => `${uid}-${key.replace(':', '-')}`;
  const errorId = (key: string) => `${fieldId(key)}-error`;
  const aria = (key: string) => ({
    id: fieldId(key),
    'aria-invalid': errors[key] !== undefined,
    'aria-describedby': errors[key] !== undefined ? errorId(key) : undefined,
  });

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const local = checkForm(fn, form);
    setErrors(local);
    if (Object.keys(local).length > 0) return;
    setBusy(true);
    try {
      await onAdd(toNodeSpec(fn, form));
      setAdded(form.id);
      setForm(initialForm(fn, new Set([...nodeIds, form.id])));
    } catch (e) {
      setErrors(e instanceof ApiError ? fieldErrorsFromServer(e, form) : { form: String(e) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      onSubmit={submit}
      noValidate
      aria-label="Add a node"
      className="space-y-2 text-sm"
      data-testid="add-node-form"
    >
      <div className="grid grid-cols-2 gap-2">
        <label className="block">
          <span className="text-xs font-medium text-slate-600 dark:text-slate-400">Function</span>
          <select
            className={inputClass}
            value={form.fn}
            onChange={(e) => pickFunction(e.target.value)}
            {...aria('fn')}
            name="fn"
          >
            {functions.map((f) => (
              <option key={f.name} value={f.name}>
                {f.name}
              </option>
            ))}
          </select>
          <FieldError id={errorId('fn')} message={errors.fn} />
        </label>
        <label className="block">
          <span className="text-xs font-medium text-slate-600 dark:text-slate-400">Node id</span>
          <input
            className={inputClass}
            value={form.id}
            onChange={(e) => set({ id: e.target.value })}
            {...aria('id')}
            name="id"
            autoComplete="off"
          />
          <FieldError id={errorId('id')} message={errors.id} />
        </label>
      </div>
      <p className="text-xs text-slate-500 dark:text-slate-400">{fn.summary}</p>
      {(fn.inputs ?? []).length > 0 && (
        <div className="grid grid-cols-2 gap-2">
          {(fn.inputs ?? []).map((name, i) => (
            <label key={name} className="block">
              <span className="text-xs font-medium text-slate-600 dark:text-slate-400">Input {name}</span>
              <input
                className={inputClass}
                list={`${uid}-inputs`}
                value={form.inputs[i] ?? ''}
                onChange={(e) => set({ inputs: form.inputs.map((v, j) => (j === i ? e.target.value : v)) })}
                {...aria(`input:${i}`)}
                name={`input-${name}`}
                autoComplete="off"
              />
              <FieldError id={errorId(`input:${i}`)} message={errors[`input:${i}`]} />
            </label>
          ))}
          <datalist id={`${uid}-inputs`}>
            {inputChoices.map((c) => (
              <option key={c} value={c} />
            ))}
          </datalist>
        </div>
      )}
      <div className="grid grid-cols-2 gap-2">
        {(fn.params ?? []).map((p) => {
          const key = `param:${p.name ?? ''}`;
          const big = (v: number | undefined) => v === undefined || Math.abs(v) > 1e300;
          return (
            <label key={p.name} className="block">
              <span className="text-xs font-medium text-slate-600 dark:text-slate-400" title={p.help}>
                {p.name}
                {!big(p.min) && !big(p.max) && (
                  <span className="font-normal text-slate-400">
                    {' '}
                    {p.min}–{p.max}
                  </span>
                )}
              </span>
              <input
                className={inputClass}
                type="number"
                inputMode={p.type === 'int' ? 'numeric' : 'decimal'}
                step={p.type === 'int' ? 1 : 'any'}
                min={big(p.min) ? undefined : p.min}
                max={big(p.max) ? undefined : p.max}
                value={form.params[p.name ?? ''] ?? ''}
                onChange={(e) => set({ params: { ...form.params, [p.name ?? '']: e.target.value } })}
                {...aria(key)}
                name={`param-${p.name}`}
              />
              <FieldError id={errorId(key)} message={errors[key]} />
            </label>
          );
        })}
        {fn.acceptsWindow && (
          <label className="block">
            <span className="text-xs font-medium text-slate-600 dark:text-slate-400">
              window (instead of period)
            </span>
            <input
              className={inputClass}
              placeholder="5m, 1h, 3d"
              value={form.window}
              onChange={(e) => set({ window: e.target.value })}
              {...aria('window')}
              name="window"
            />
            <FieldError id={errorId('window')} message={errors.window} />
          </label>
        )}
      </div>
      <FieldError id={errorId('form')} message={errors.form} />
      <div className="flex items-center gap-3">
        <button
          type="submit"
          disabled={busy}
          className="rounded bg-blue-600 px-3 py-1 font-medium text-white hover:bg-blue-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-500 disabled:opacity-50"
        >
          {busy ? 'Adding…' : 'Add node'}
        </button>
        {added && (
          <span role="status" className="text-xs text-green-700 dark:text-green-400">
            Added {added}
          </span>
        )}
      </div>
    </form>
  );
}
