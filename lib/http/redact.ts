import type { AxiosError } from 'axios';
import { redactAxiosError } from '../errors.js';
import type { RequestState } from './request-state.js';

/** The error to hand the caller: with why it was not replayed, if `note` says, and without any token the request carried. */
export function redacted(error: AxiosError, state: RequestState, note?: string): AxiosError {
  if (note) error.message = `${error.message} (${note})`;
  // Also without a token of its own: what `inspect` would walk (the agent, its sockets) may lead to other requests' tokens.
  return redactAxiosError(error, state.tokens());
}
