import { createClient } from 'redis';

/** The Redis the tests use: `REDIS_URL`, by default the one `.ci/run` starts. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6390';

/**
 * Whether that Redis answers. In CI (`CI=true`) a missing Redis is an error, not a reason to skip:
 * `.ci/run` installs and starts one, so its absence means the setup broke.
 */
export async function redisAvailable(): Promise<boolean> {
  const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 1_000, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    await client.close();
    return true;
  } catch {
    client.destroy();
    if (process.env.CI === 'true') throw new Error(`Redis is not reachable at ${REDIS_URL}: .ci/run should have started it`);
    process.stdout.write(`\nSkipping the Redis tests: no Redis at ${REDIS_URL} (start one with: redis-server --port 6390 --save '' --appendonly no)\n`);
    return false;
  }
}
