import { sdk, type SdkApiClient } from './platform-sdk.js';
import type { GenesysSdkHttpClient } from './sdk-http-client.js';

/** Fields and methods of the SDK's `Configuration` this file touches that its typings omit. */
interface ConfigurationInternals {
  updateConfigFromFile(): void;
  liveLoadConfig(): void;
  live_reload_config: boolean;
  gateway?: unknown;
  basePath: string;
  refresh_access_token: boolean;
}

/** The SDK's `Configuration` class, which it does not export. */
interface ConfigurationClass {
  readonly prototype: ConfigurationInternals;
}

/**
 * A new SDK `ApiClient` of its own, sending to `apiOrigin` through `httpClient`, that leaves the SDK's
 * process-wide state as it found it and watches no file:
 *
 * - `new ApiClient()` makes itself `ApiClient.instance` when none exists, and its `Configuration`
 *   likewise `Configuration.instance`; both static properties are restored right after construction.
 * - A `Configuration` reads `~/.genesyscloudjavascript/config` and, in `liveLoadConfig()`, watches it
 *   with `fs.watchFile` for the rest of the process: nothing ever stops that watch, and its listener
 *   `require`s a module whenever it fires (at its first look already when the file does not exist),
 *   after a test runner has torn its module environment down for instance. While ours is
 *   constructed, `liveLoadConfig` only reads the file, as the SDK does (e.g. its `[logging]` settings);
 *   then its `live_reload_config` is turned off, so that nothing later (`setConfigPath`) starts a watch.
 *   The SDK's own `ApiClient.instance` is the app's: it keeps its watch.
 * - A `host` or `gateway` from that file is overridden: requests go to the registration's API origin only.
 */
export function createIsolatedApiClient(apiOrigin: string, httpClient: GenesysSdkHttpClient): SdkApiClient {
  const ApiClient = sdk.ApiClientClass;
  // The SDK does not export its Configuration class; the configuration of the instance it creates on load has it.
  const Configuration = (sdk.ApiClient as Partial<SdkApiClient> | undefined)?.config?.constructor as ConfigurationClass | undefined;
  const restore = [keepProperty(ApiClient, 'instance')];
  if (Configuration) {
    restore.push(keepProperty(Configuration, 'instance'), keepProperty(Configuration.prototype, 'liveLoadConfig'));
    Configuration.prototype.liveLoadConfig = readConfigFileOnce; // for this one construction only: nothing else runs meanwhile
  }
  let apiClient: SdkApiClient;
  try {
    apiClient = new ApiClient();
  } finally {
    for (const undo of restore) undo();
  }
  const config = apiClient.config as unknown as ConfigurationInternals;
  // Nothing is watched, so the SDK's setter has no watch to stop (it would stop every ApiClient's: Node shares one per file).
  config.live_reload_config = false;
  config.gateway = undefined;
  config.basePath = apiOrigin;
  // Its 401 handler refreshes authorization-code tokens only; the interceptor renews ours.
  config.refresh_access_token = false;
  apiClient.setHttpClient(httpClient);
  return apiClient;
}

/** `Configuration.liveLoadConfig` without the watch: reads the settings file once. */
function readConfigFileOnce(this: ConfigurationInternals): void {
  this.updateConfigFromFile();
}

/** Saves a property of `target` as it is (absent included); the function returned puts it back. */
function keepProperty(target: object, key: string): () => void {
  const saved = Object.getOwnPropertyDescriptor(target, key);
  return () => {
    if (saved) Object.defineProperty(target, key, saved);
    else Reflect.deleteProperty(target, key);
  };
}
