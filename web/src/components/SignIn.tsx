// The sign-in, shown when the server refused the page's credential (or there was none) and after
// Sign out: an API key, or an OAuth2 client's id and secret. The credential is checked with the
// server before it is used; its refusal is shown in the server's words ("the API key is not
// valid", "client authentication failed").
import { useId, useState, type FormEvent } from 'react';
import { errorText } from '../api/error';
import type { NewCredential } from '../auth/credentials';

export interface SignInProps {
  reason: string | null; // why the page is signed out, in the server's words; null after Sign out
  onSignIn: (c: NewCredential) => Promise<void>; // rejects with the server's ApiError
}

type Method = NewCredential['kind'];

const inputClass =
  'w-full rounded border border-slate-300 bg-white px-2 py-1.5 font-mono text-sm dark:border-slate-600 dark:bg-slate-900 aria-[invalid=true]:border-red-500 focus-visible:outline-2 focus-visible:outline-blue-500';
const labelClass = 'text-xs font-medium text-slate-600 dark:text-slate-400';

export function SignIn({ reason, onSignIn }: SignInProps) {
  const uid = useId();
  const [method, setMethod] = useState<Method>('api_key');
  const [apiKey, setApiKey] = useState('');
  const [clientId, setClientId] = useState('');
  const [clientSecret, setClientSecret] = useState('');
  const [error, setError] = useState<{ text: string; field: string | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const errorId = `${uid}-error`;

  const pick = (m: Method) => {
    setMethod(m);
    setError(null);
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    let credential: NewCredential;
    if (method === 'api_key') {
      if (apiKey.trim() === '') return setError({ text: 'Enter an API key.', field: 'api-key' });
      credential = { kind: 'api_key', apiKey };
    } else {
      if (clientId.trim() === '') return setError({ text: 'Enter the client ID.', field: 'client-id' });
      if (clientSecret === '') return setError({ text: 'Enter the client secret.', field: 'client-secret' });
      credential = { kind: 'client', clientId, clientSecret };
    }
    setBusy(true);
    setError(null);
    try {
      await onSignIn(credential);
    } catch (e) {
      setError({ text: errorText(e), field: null });
    } finally {
      setBusy(false);
    }
  };

  // A field is marked when the error is its own, or when the server refused what it holds.
  const field = (name: string) => {
    const invalid = error !== null && (error.field === name || error.field === null);
    return {
      id: `${uid}-${name}`,
      name,
      'aria-invalid': invalid,
      'aria-describedby': invalid ? errorId : undefined,
      className: inputClass,
      autoComplete: 'off',
      spellCheck: false,
    };
  };

  const radio = (m: Method, label: string) => (
    <label className="flex cursor-pointer items-center gap-1.5">
      <input
        type="radio"
        name={`${uid}-method`}
        value={m}
        checked={method === m}
        onChange={() => pick(m)}
        className="accent-blue-600"
      />
      {label}
    </label>
  );

  return (
    <main className="flex flex-1 items-start justify-center p-4 sm:items-center">
      <section
        aria-labelledby={`${uid}-title`}
        className="w-full max-w-md rounded-lg border border-slate-200 bg-white p-5 shadow-sm dark:border-slate-700 dark:bg-slate-900"
        data-testid="sign-in"
      >
        <h1 id={`${uid}-title`} className="text-lg font-semibold">
          Sign in
        </h1>
        {reason && (
          <p
            className="mt-2 rounded border border-amber-300 bg-amber-50 px-2 py-1.5 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-200"
            data-testid="sign-in-reason"
          >
            The server refused the request: {reason}
          </p>
        )}
        <form onSubmit={submit} noValidate aria-label="Sign in" className="mt-3 space-y-3 text-sm">
          <fieldset className="flex flex-wrap gap-x-4 gap-y-1">
            <legend className={`${labelClass} mb-1`}>Sign in with</legend>
            {radio('api_key', 'an API key')}
            {radio('client', 'a client ID and secret')}
          </fieldset>
          {method === 'api_key' ? (
            <label className="block" htmlFor={`${uid}-api-key`}>
              <span className={labelClass}>API key</span>
              <input
                {...field('api-key')}
                type="password"
                placeholder="tgk_…"
                value={apiKey}
                onChange={(e) => setApiKey(e.target.value)}
                autoFocus
              />
            </label>
          ) : (
            <>
              <label className="block" htmlFor={`${uid}-client-id`}>
                <span className={labelClass}>Client ID</span>
                <input
                  {...field('client-id')}
                  type="text"
                  placeholder="tgc_…"
                  value={clientId}
                  onChange={(e) => setClientId(e.target.value)}
                  autoFocus
                />
              </label>
              <label className="block" htmlFor={`${uid}-client-secret`}>
                <span className={labelClass}>Client secret</span>
                <input
                  {...field('client-secret')}
                  type="password"
                  value={clientSecret}
                  onChange={(e) => setClientSecret(e.target.value)}
                />
              </label>
            </>
          )}
          {error && (
            <p
              id={errorId}
              role="alert"
              className="text-sm text-red-600 dark:text-red-400"
              data-testid="sign-in-error"
            >
              {error.text}
            </p>
          )}
          <button
            type="submit"
            disabled={busy}
            className="w-full rounded bg-blue-600 px-3 py-1.5 font-medium text-white hover:bg-blue-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-blue-500 disabled:opacity-50"
          >
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
          <p className="text-xs text-slate-500 dark:text-slate-400">
            The link <code>tickgraph serve</code> prints signs in by itself. Create a key with{' '}
            <code>tickgraph auth key add NAME --scopes read,write</code>, or a client with{' '}
            <code>tickgraph auth client add</code>. The credential is kept for this tab only.
          </p>
        </form>
      </section>
    </main>
  );
}
