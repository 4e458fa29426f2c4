import type { GenericAbortSignal } from 'axios';

interface AbortFanOut {
  readonly callbacks: Set<() => void>;
  readonly fire: () => void;
}

/** One listener per signal, whatever number of waits and requests listen to it (see {@link onAbort}). */
const fanOuts = new WeakMap<GenericAbortSignal, AbortFanOut>();

/**
 * Calls `callback` once when `signal` aborts; returns a function that stops listening. A caller's signal
 * may be shared by a whole batch of requests: each would add a listener of its own, which costs every
 * request and trips Node's MaxListenersExceededWarning. Here a signal holds one listener, fanned out.
 * Check `signal.aborted` first: a signal that already aborted never calls back.
 */
export function onAbort(signal: GenericAbortSignal, callback: () => void): () => void {
  let fanOut = fanOuts.get(signal);
  if (!fanOut) {
    const callbacks = new Set<() => void>();
    const created: AbortFanOut = {
      callbacks,
      fire: () => {
        fanOuts.delete(signal);
        for (const each of callbacks) each();
        callbacks.clear();
      },
    };
    fanOuts.set(signal, created);
    signal.addEventListener?.('abort', created.fire);
    fanOut = created;
  }
  const listening = fanOut;
  const entry = () => callback(); // its own identity: one callback may listen twice
  listening.callbacks.add(entry);
  return () => {
    if (!listening.callbacks.delete(entry) || listening.callbacks.size > 0 || fanOuts.get(signal) !== listening) return;
    fanOuts.delete(signal);
    signal.removeEventListener?.('abort', listening.fire);
  };
}
