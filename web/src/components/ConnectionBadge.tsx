// The live stream's state, always visible: live, connecting, reconnecting (with the attempt,
// the wait before the next one and a button to try at once), or refused (the server's reason,
// and the same button).
import { useEffect, useState } from 'react';
import type { Connection } from '../stream/reducer';

export function ConnectionBadge({ connection, onRetry }: { connection: Connection; onRetry: () => void }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (connection.status !== 'reconnecting') return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, [connection.status]);
  const { status } = connection;
  const dot = status === 'live' ? 'bg-green-500' : status === 'connecting' ? 'bg-amber-400' : 'bg-red-500';
  const wait = connection.retryAt === null ? 0 : Math.max(0, Math.ceil((connection.retryAt - now) / 1000));
  // The live region announces the state only, not each second of the countdown.
  const word = { live: 'Live', connecting: 'Connecting', reconnecting: 'Reconnecting', refused: 'Refused' }[
    status
  ];
  const detail =
    status === 'connecting'
      ? connection.attempt > 0
        ? ` (attempt ${connection.attempt + 1})…`
        : '…'
      : status === 'reconnecting'
        ? ` in ${wait} s`
        : '';
  // Refused is final until the user acts: its reason is part of what is announced.
  const reason = status === 'refused' ? `: ${connection.error ?? 'the server refused the credential'}` : '';
  return (
    <div
      className="flex items-center gap-2 text-sm"
      data-testid="connection"
      data-status={status}
      title={connection.error ?? undefined}
    >
      <span className={`inline-block h-2.5 w-2.5 rounded-full ${dot}`} aria-hidden="true" />
      <span>
        <span role="status" aria-live="polite">
          {word}
          {reason}
        </span>
        <span aria-hidden="true">{detail}</span>
      </span>
      {/* Kept in place while connecting, so that keyboard focus is not lost when pressed. */}
      {status !== 'live' && (
        <button
          type="button"
          onClick={onRetry}
          disabled={status === 'connecting'}
          className="rounded border border-slate-300 px-1.5 text-xs hover:bg-slate-100 disabled:opacity-50 dark:border-slate-600 dark:hover:bg-slate-800"
        >
          Retry now
        </button>
      )}
    </div>
  );
}
