import type { EventEmitter } from 'node:events';

/** Whether a request or response body is a Node stream (which a replay cannot resend, and which ends later than its response). */
export function isStream(body: unknown): body is EventEmitter & { pipe: unknown } {
  return typeof body === 'object' && body !== null && typeof (body as { pipe?: unknown }).pipe === 'function' && typeof (body as { once?: unknown }).once === 'function';
}
