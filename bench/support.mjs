// Shared by the benchmarks: a bounded-concurrency request loop, a markdown table printer, the status
// of a failed call, the library's rate limit for runs that measure something else and the baseline the
// library's cost is measured against.
import * as http from 'node:http';
import { HttpService } from '@nestjs/axios';
import axios from 'axios';

/**
 * A per-token budget no benchmark run reaches: every request still goes through the library's pacing
 * (its cost is part of what is measured), but none ever waits for budget.
 */
export const SPARE_BUDGET = Object.freeze({ requestsPerToken: 100_000_000, windowMs: 60_000 });

/** Runs `total` calls of `call()` with at most `concurrency` in flight; returns elapsed ms, failures and the first failure. */
export async function runLoad(call, { total, concurrency }) {
  let started = 0;
  let failures = 0;
  let firstFailure;
  const begin = performance.now();
  const worker = async () => {
    while (started < total) {
      started++;
      try {
        await call();
      } catch (error) {
        failures++;
        firstFailure ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { elapsedMs: performance.now() - begin, failures, firstFailure };
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** Prints rows (objects with the same keys) as a markdown table. */
export function printTable(rows) {
  const columns = Object.keys(rows[0]);
  const line = (cells) => `| ${cells.join(' | ')} |`;
  console.log(line(columns));
  console.log(line(columns.map(() => '---')));
  for (const row of rows) console.log(line(columns.map((column) => String(row[column]))));
}

/** The HTTP status of a failed call: axios errors carry a response, the SDK rejects with `{ status }`. */
export function statusOf(error) {
  return error?.response?.status ?? error?.status;
}

/**
 * The baseline a signed request's cost is measured against: a plain `HttpService` with the same defaults
 * as `GenesysHttpService` (`baseURL`, 30 s `timeout`, `Accept`, a keep-alive agent of its own) whose
 * synchronous request interceptor sets a fixed `Authorization` header, as a hand-written signer would.
 * `adapter` replaces the network (a stub), when given; `maxRedirects: 0` sends on Node's own transport
 * instead of follow-redirects (the like-for-like reference for the library's GETs).
 */
export function fixedHeaderHttpService({ baseURL, token, agent, adapter, maxRedirects }) {
  const instance = axios.create({
    baseURL,
    timeout: 30_000,
    httpAgent: agent,
    headers: { Accept: 'application/json' },
    ...(adapter && { adapter }),
    ...(maxRedirects !== undefined && { maxRedirects }),
  });
  instance.interceptors.request.use(
    (config) => {
      config.headers.set('Authorization', `Bearer ${token}`);
      return config;
    },
    undefined,
    { synchronous: true },
  );
  return new HttpService(instance);
}
