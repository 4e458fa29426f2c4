import { unwatchFile, watchFile } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { sdk, type SdkApiClient } from './platform-sdk.js';
import type { GenesysSdkHttpClient } from './sdk-http-client.js';

/** Fields of the SDK's `Configuration` this file touches that its typings omit. */
interface ConfigurationInternals {
  watchedConfigPath?: string | null;
  _live_reload_config?: boolean;
  gateway?: unknown;
  basePath: string;
  refresh_access_token: boolean;
}

/**
 * A new SDK `ApiClient` of its own, sending to `apiOrigin` through `httpClient`, that leaves the SDK's
 * process-wide state as it found it:
 *
 * - `new ApiClient()` makes itself `ApiClient.instance` when none exists, and its `Configuration`
 *   likewise `Configuration.instance`; both static properties are restored right after construction.
 * - Its `Configuration` reads `~/.genesyscloudjavascript/config` and watches it with `fs.watchFile`.
 *   Node shares one watcher per file, so each `ApiClient` adds a listener to it (Node warns about a leak
 *   past 10) and none is ever removed. Only this client's listener is removed again: the SDK's own
 *   `live_reload_config = false` would unwatch the file for every `ApiClient` in the process. The file is
 *   still read once, as the SDK does (e.g. its `[logging]` settings).
 * - A `host` or `gateway` from that file is overridden: requests go to the registration's API origin only.
 */
export function createIsolatedApiClient(apiOrigin: string, httpClient: GenesysSdkHttpClient): SdkApiClient {
  const ApiClient = sdk.ApiClientClass;
  // The SDK does not export its Configuration class; the configuration of the instance it creates on load has it.
  const Configuration = (sdk.ApiClient as Partial<SdkApiClient> | undefined)?.config?.constructor;
  const restore = [keepStatic(ApiClient, 'instance'), ...(Configuration ? [keepStatic(Configuration, 'instance')] : [])];
  let apiClient: SdkApiClient;
  try {
    apiClient = withoutConfigFileWatch(() => new ApiClient());
  } finally {
    for (const undo of restore) undo();
  }
  const config = apiClient.config as unknown as ConfigurationInternals;
  // Its listener is gone: say so, so that nothing of the SDK's unwatches the file later (which would stop every ApiClient's watch).
  config.watchedConfigPath = null;
  config._live_reload_config = false; // the field, not the setter: the setter unwatches the file for every ApiClient
  config.gateway = undefined;
  config.basePath = apiOrigin;
  // Its 401 handler refreshes authorization-code tokens only; the interceptor renews ours.
  config.refresh_access_token = false;
  apiClient.setHttpClient(httpClient);
  return apiClient;
}

/** Saves a static property as it is (absent included); the function returned puts it back. */
function keepStatic(target: object, key: string): () => void {
  const saved = Object.getOwnPropertyDescriptor(target, key);
  return () => {
    if (saved) Object.defineProperty(target, key, saved);
    else Reflect.deleteProperty(target, key);
  };
}

/** Where the SDK's `Configuration` reads and watches its settings (`os.homedir()/.genesyscloudjavascript/config`). */
const SDK_CONFIG_FILE = join(homedir(), '.genesyscloudjavascript', 'config');

/**
 * Runs `construct` and removes the config-file listeners it added, and no other. Node's `watchFile`
 * returns the file's shared watcher: a probe listener gets hold of it, and the listeners it has after
 * construction that it did not have before are the new `Configuration`'s. (Comparing lists, rather than
 * reading the `watchedConfigPath` that SDK 262 records, also covers older SDKs, which record none.)
 */
function withoutConfigFileWatch<T>(construct: () => T): T {
  const probe = (): void => undefined;
  const watcher = watchFile(SDK_CONFIG_FILE, { persistent: false }, probe);
  const before = new Set(watcher.listeners('change'));
  try {
    return construct();
  } finally {
    for (const listener of watcher.listeners('change')) {
      if (!before.has(listener)) unwatchFile(SDK_CONFIG_FILE, listener as Parameters<typeof unwatchFile>[1]);
    }
    unwatchFile(SDK_CONFIG_FILE, probe);
  }
}
