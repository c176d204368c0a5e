// The sign-in in jsdom: fields found by their labels, an API key or a client sent as typed, the
// server's refusal shown and tied to the fields, and nothing sent when a field is empty.
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { ApiError } from '../api/error';
import type { NewCredential } from '../auth/credentials';
import { SignIn } from './SignIn';

afterEach(cleanup);

const submit = () => fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));

describe('SignIn', () => {
  test('sends the pasted API key', async () => {
    const onSignIn = vi.fn(async (_: NewCredential) => undefined);
    render(<SignIn reason={null} onSignIn={onSignIn} />);
    const key = screen.getByLabelText('API key');
    expect(document.activeElement).toBe(key);
    fireEvent.change(key, { target: { value: 'tgk_0e83558da7aa9af6_secret' } });
    submit();
    await waitFor(() => expect(onSignIn).toHaveBeenCalledTimes(1));
    expect(onSignIn).toHaveBeenCalledWith({ kind: 'api_key', apiKey: 'tgk_0e83558da7aa9af6_secret' });
  });

  test("shows the server's refusal, announced and tied to the field", async () => {
    const onSignIn = vi.fn(async () => {
      throw new ApiError(401, {
        code: 'unauthenticated',
        message: 'the API key is not valid',
        details: { reason: 'bad_api_key' },
      });
    });
    render(<SignIn reason="this route needs a credential" onSignIn={onSignIn} />);
    expect(screen.getByTestId('sign-in-reason').textContent).toContain('this route needs a credential');
    const key = screen.getByLabelText('API key');
    fireEvent.change(key, { target: { value: 'tgk_0_wrong' } });
    submit();
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toBe('the API key is not valid');
    expect(key.getAttribute('aria-invalid')).toBe('true');
    expect(key.getAttribute('aria-describedby')).toBe(alert.id);
    expect(screen.getByRole('button', { name: 'Sign in' })).not.toHaveProperty('disabled', true);
  });

  test('a rate limit says when to try again', async () => {
    const onSignIn = vi.fn(async () => {
      throw new ApiError(
        429,
        { code: 'resource_exhausted', message: 'too many failed authentications from 127.0.0.1' },
        3,
      );
    });
    render(<SignIn reason={null} onSignIn={onSignIn} />);
    fireEvent.change(screen.getByLabelText('API key'), { target: { value: 'tgk_0_x' } });
    submit();
    expect((await screen.findByRole('alert')).textContent).toBe(
      'too many failed authentications from 127.0.0.1 (try again in 3 s)',
    );
  });

  test('an empty field is named and nothing is sent', async () => {
    const onSignIn = vi.fn(async () => undefined);
    render(<SignIn reason={null} onSignIn={onSignIn} />);
    submit();
    expect((await screen.findByRole('alert')).textContent).toBe('Enter an API key.');
    expect(screen.getByLabelText('API key').getAttribute('aria-invalid')).toBe('true');
    expect(onSignIn).not.toHaveBeenCalled();
  });

  test('signs in with a client id and secret, by keyboard submit', async () => {
    const onSignIn = vi.fn(async () => {
      throw new ApiError(401, {
        code: 'unauthenticated',
        message: 'client authentication failed',
      });
    });
    render(<SignIn reason={null} onSignIn={onSignIn} />);
    fireEvent.click(screen.getByRole('radio', { name: 'a client ID and secret' }));
    expect(screen.queryByLabelText('API key')).toBeNull();
    const id = screen.getByLabelText('Client ID');
    const secret = screen.getByLabelText('Client secret');
    expect(secret.getAttribute('type')).toBe('password');
    fireEvent.change(id, { target: { value: 'tgc_a54d0ddc7516e795' } });
    fireEvent.submit(secret.closest('form') as HTMLFormElement);
    expect((await screen.findByRole('alert')).textContent).toBe('Enter the client secret.');
    expect(secret.getAttribute('aria-invalid')).toBe('true');
    expect(id.getAttribute('aria-invalid')).toBe('false');
    fireEvent.change(secret, { target: { value: 'o3pW3n0V34b4' } });
    fireEvent.submit(secret.closest('form') as HTMLFormElement);
    await waitFor(() =>
      expect(onSignIn).toHaveBeenCalledWith({
        kind: 'client',
        clientId: 'tgc_a54d0ddc7516e795',
        clientSecret: 'o3pW3n0V34b4',
      }),
    );
    expect((await screen.findByRole('alert')).textContent).toBe('client authentication failed');
  });
});
