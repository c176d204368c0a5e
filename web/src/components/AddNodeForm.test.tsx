// The form in jsdom: defaults, the local range check, the server's error placed next to the
// field its details name, and a refusal of the credential shown for the whole form (the browser
// tests do the same against the real server).
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { ApiError } from '../api/client';
import type { FunctionDef, NodeSpec } from '../api/types';
import { AddNodeForm } from './AddNodeForm';

const functions: FunctionDef[] = [
  {
    name: 'ema',
    summary: 'exponential moving average',
    inputs: ['input'],
    params: [{ name: 'period', type: 'int', defaultValue: 20, min: 2, max: 100000 }],
  },
  {
    name: 'sma',
    summary: 'simple moving average',
    inputs: ['input'],
    params: [{ name: 'period', type: 'int', defaultValue: 20, min: 1, max: 100000 }],
    acceptsWindow: true,
  },
];

afterEach(cleanup);

function setup(onAdd: (n: NodeSpec) => Promise<void>) {
  render(
    <AddNodeForm
      functions={functions}
      nodeIds={new Set(['sma20'])}
      inputChoices={['close', 'rsi']}
      onAdd={onAdd}
    />,
  );
  const field = (name: string) => document.querySelector(`[name="${name}"]`) as HTMLInputElement;
  const errorOf = (el: HTMLElement) => {
    const id = el.getAttribute('aria-describedby');
    return id ? document.getElementById(id)?.textContent : undefined;
  };
  return { field, errorOf, submit: () => fireEvent.click(screen.getByRole('button', { name: 'Add node' })) };
}

describe('AddNodeForm', () => {
  test('starts on sma with its default period and a free id, and sends the node', async () => {
    const onAdd = vi.fn(async () => undefined);
    const { field, submit } = setup(onAdd);
    expect(field('fn').value).toBe('sma');
    expect(field('id').value).toBe('sma20_2');
    expect(field('param-period').value).toBe('20');
    fireEvent.change(field('param-period'), { target: { value: '50' } });
    fireEvent.change(field('id'), { target: { value: 'trend' } });
    submit();
    await waitFor(() => expect(onAdd).toHaveBeenCalledTimes(1));
    expect(onAdd).toHaveBeenCalledWith({ id: 'trend', fn: 'sma', inputs: ['close'], params: { period: 50 } });
    await screen.findByText('Added trend');
  });

  test('an out-of-range period is shown next to the field and not sent', async () => {
    const onAdd = vi.fn(async () => undefined);
    const { field, errorOf, submit } = setup(onAdd);
    fireEvent.change(field('fn'), { target: { value: 'ema' } });
    fireEvent.change(field('param-period'), { target: { value: '1' } });
    submit();
    await waitFor(() => expect(field('param-period').getAttribute('aria-invalid')).toBe('true'));
    expect(errorOf(field('param-period'))).toBe("parameter 'period' = 1 is out of range [2, 100000]");
    expect(onAdd).not.toHaveBeenCalled();
  });

  test("the server's error is shown next to the input it names", async () => {
    const onAdd = vi.fn(async () => {
      throw new ApiError(400, {
        code: 'invalid_argument',
        message: "request body:0: node 'sma20_2': unknown input 'clos'",
        details: { node: 'sma20_2', input: 'clos' },
      });
    });
    const { field, errorOf, submit } = setup(onAdd);
    fireEvent.change(field('input-input'), { target: { value: 'clos' } });
    submit();
    await waitFor(() => expect(errorOf(field('input-input'))).toContain("unknown input 'clos'"));
    expect(field('id').getAttribute('aria-invalid')).toBe('false');
  });

  test("a credential without the 'write' scope: the server's 403 is shown for the whole form", async () => {
    const message = "PUT /v1/graphs/{id} needs the 'write' scope, which this credential lacks";
    const onAdd = vi.fn(async () => {
      throw new ApiError(403, {
        code: 'permission_denied',
        message,
        details: { reason: 'insufficient_scope', scope: 'write' },
      });
    });
    const { field, submit } = setup(onAdd);
    submit();
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe(message);
    for (const name of ['fn', 'id', 'input-input', 'param-period'])
      expect(field(name).getAttribute('aria-invalid')).toBe('false');
  });
});
