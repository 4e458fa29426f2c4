import { randomUUID } from 'node:crypto';
import type { ChildApp } from './child-process.js';

/** The replica fixture (test/fixtures/replica/main.ts): one app sharing tokens and budgets through Redis, run as a real process. */
export const REPLICA_FIXTURE = 'test/fixtures/replica/main.ts';

/** The JSON lines a replica printed. */
export const eventsOf = (replica: ChildApp) =>
  replica
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** What a replica's callers saw under the load it offered (`LOAD_PER_SECOND`). */
export const loadOf = (replica: ChildApp) => eventsOf(replica).find((event) => event.load)?.load;

/** A key prefix of the test's own, so that tests sharing a Redis never meet each other's keys. */
export const keyPrefix = () => `test-${randomUUID()}:`;
