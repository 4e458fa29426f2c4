import fc from 'fast-check';
import { checkClosed, checkInvariants } from './invariants.js';
import { TAMPERINGS, type StoreOutageKind, type Tampering } from './tamperable-store.js';
import { STEP_WAIT_MS } from './timings.js';
import type { ApiPath, ClientId, Credentials, ResolvedKey, Target, TenantKey, World } from './world.js';

/** What the model keeps: little, on purpose; the invariants judge the world's own records. */
export interface Model {
  closed: boolean;
  readonly hasStore: boolean;
}

type Command = fc.AsyncCommand<Model, World>;

/** A step on the world; invariants are checked after it (and after the calls it started had a moment). */
abstract class Step implements Command {
  check(model: Readonly<Model>): boolean {
    return !model.closed;
  }

  async run(_model: Model, world: World): Promise<void> {
    await this.act(world);
    await world.settle(STEP_WAIT_MS);
    checkInvariants(world);
  }

  protected abstract act(world: World): void | Promise<void>;
  abstract toString(): string;
}

/** `size` concurrent calls through one registration. */
class Burst extends Step {
  constructor(
    private readonly target: Target,
    private readonly path: ApiPath,
    private readonly size: number,
  ) {
    super();
  }
  protected act(world: World): void {
    for (let i = 0; i < this.size; i++) world.call(this.target, this.path);
  }
  toString(): string {
    return `Burst(${this.target}, ${this.path}, ${this.size})`;
  }
}

/** `DELETE /api/v2/tokens/me` through a registration: revokes the token it happens to use. */
class RevokeOwnToken extends Step {
  constructor(private readonly target: Target) {
    super();
  }
  protected act(world: World): void {
    world.call(this.target, '/api/v2/tokens/me', 'DELETE');
  }
  toString(): string {
    return `RevokeOwnToken(${this.target})`;
  }
}

/** Lets time pass: tokens age, windows empty, cool-downs end. */
class Pause extends Step {
  constructor(private readonly ms: number) {
    super();
  }
  protected act(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.ms));
  }
  toString(): string {
    return `Pause(${this.ms})`;
  }
}

/** An admin revokes every token of a client (or of all clients). */
class Revoke extends Step {
  constructor(private readonly clientId?: ClientId) {
    super();
  }
  protected act(world: World): void {
    world.emulator.revokeAllTokens(this.clientId);
  }
  toString(): string {
    return `Revoke(${this.clientId ?? 'all'})`;
  }
}

/** The next `times` API requests, whoever sends them, get 401. */
class UnauthorizedSpell extends Step {
  constructor(private readonly times: number) {
    super();
  }
  protected act(world: World): void {
    world.emulator.inject('api', { status: 401, body: { message: 'Authentication failed.', code: 'bad.credentials', status: 401 } }, this.times);
  }
  toString(): string {
    return `UnauthorizedSpell(${this.times})`;
  }
}

/** `Retry-After` values as a server may send them, well-formed or not; dates are taken at run time. */
const RETRY_AFTERS = {
  'absent': () => undefined,
  '0': () => '0',
  '1': () => '1',
  '2': () => '2',
  '86400': () => '86400',
  '1e9': () => '1e9',
  'garbage': () => 'soon',
  'date in 2 s': () => new Date(Date.now() + 2_000).toUTCString(),
  'date in 5 years': () => new Date(Date.now() + 5 * 365 * 86_400_000).toUTCString(),
  'date past': () => new Date(Date.now() - 60_000).toUTCString(),
} as const;
type RetryAfter = keyof typeof RETRY_AFTERS;

/** The next `times` API requests get 429 with the given `Retry-After`. */
class TooManyRequests extends Step {
  constructor(
    private readonly retryAfter: RetryAfter,
    private readonly times: number,
  ) {
    super();
  }
  protected act(world: World): void {
    const header = RETRY_AFTERS[this.retryAfter]();
    const body = { message: 'Rate limit exceeded the maximum', code: 'too.many.requests.retry.after', status: 429 };
    world.emulator.inject('api', { status: 429, body, ...(header === undefined ? {} : { headers: { 'Retry-After': header } }) }, this.times);
  }
  toString(): string {
    return `TooManyRequests(${this.retryAfter}, ${this.times})`;
  }
}

/** A per-resource limit on one route for a while. */
class LimitRoute extends Step {
  constructor(
    private readonly path: Exclude<ApiPath, '/api/v2/tokens/me'>,
    private readonly retryAfterSeconds: number | undefined,
    private readonly durationMs: number,
  ) {
    super();
  }
  protected act(world: World): void {
    world.emulator.rateLimitRoute(`GET ${this.path}`, { retryAfterSeconds: this.retryAfterSeconds, durationMs: this.durationMs });
  }
  toString(): string {
    return `LimitRoute(${this.path}, ${this.retryAfterSeconds ?? 'time left'}, ${this.durationMs})`;
  }
}

const LOGIN_FAULTS = {
  down: { status: 503, body: 'login is down' },
  reset: { reset: true },
  hang: { hang: true },
} as const;

/** The next `times` token requests fail. */
class LoginOutage extends Step {
  constructor(
    private readonly fault: keyof typeof LOGIN_FAULTS,
    private readonly times: number,
  ) {
    super();
  }
  protected act(world: World): void {
    world.emulator.inject('token', LOGIN_FAULTS[this.fault], this.times);
  }
  toString(): string {
    return `LoginOutage(${this.fault}, ${this.times})`;
  }
}

/** Turns Genesys' token-endpoint limit (`400 rate limit exceeded;`) on or off. */
class ThrottleLogins extends Step {
  constructor(private readonly on: boolean) {
    super();
  }
  protected act(world: World): void {
    world.emulator.tokenRateLimit = this.on ? { requests: 3, windowMs: 1_000 } : false;
  }
  toString(): string {
    return `ThrottleLogins(${this.on})`;
  }
}

/** `registry.get(key, options)` with other credentials or store: the registry replaces the tenant's client. */
class PutTenant extends Step {
  constructor(
    private readonly key: TenantKey,
    private readonly credentials: Credentials,
    private readonly store: boolean,
  ) {
    super();
  }
  protected act(world: World): Promise<void> {
    return world.putTenant(this.key, this.credentials, this.store);
  }
  toString(): string {
    return `PutTenant(${this.key}, ${this.credentials}, ${this.store ? 'store' : 'no store'})`;
  }
}

class RemoveTenant extends Step {
  constructor(private readonly key: TenantKey) {
    super();
  }
  protected act(world: World): void {
    world.removeTenant(this.key);
  }
  toString(): string {
    return `RemoveTenant(${this.key})`;
  }
}

/** `registry.get(key)` through `resolveOptions`, which answers at once, slowly or never; then a call. */
class Resolve extends Step {
  constructor(private readonly key: ResolvedKey) {
    super();
  }
  protected act(world: World): void {
    world.resolve(this.key);
  }
  toString(): string {
    return `Resolve(${this.key})`;
  }
}

/** Corrupts the token values of the shared store. */
class TamperStore extends Step {
  constructor(private readonly tampering: Tampering) {
    super();
  }
  override check(model: Readonly<Model>): boolean {
    return super.check(model) && model.hasStore;
  }
  protected act(world: World): void {
    world.tamper(this.tampering);
  }
  toString(): string {
    return `TamperStore(${this.tampering})`;
  }
}

/** The shared store fails for a while: it refuses every call, or stops answering (a half-open connection). */
class StoreOutage extends Step {
  constructor(
    private readonly kind: StoreOutageKind,
    private readonly ms: number,
  ) {
    super();
  }
  override check(model: Readonly<Model>): boolean {
    return super.check(model) && model.hasStore;
  }
  protected act(world: World): void {
    world.store?.fail(this.kind, this.ms);
  }
  toString(): string {
    return `StoreOutage(${this.kind}, ${this.ms})`;
  }
}

/** `app.close()` with whatever is pending; nothing runs after it. */
class Shutdown implements Command {
  check(model: Readonly<Model>): boolean {
    return !model.closed;
  }
  async run(model: Model, world: World): Promise<void> {
    model.closed = true;
    await shutDown(world);
  }
  toString(): string {
    return 'Shutdown';
  }
}

/** Closes the app: pending operations must settle promptly (invariant 5), then every settled one is judged. */
export async function shutDown(world: World): Promise<void> {
  checkClosed(world, await world.close());
  checkInvariants(world, true);
}

const targets = fc.constantFrom<Target>('root', 'beta', 'impostor', 'tenant-1', 'tenant-2');
const paths = fc.constantFrom<Exclude<ApiPath, '/api/v2/tokens/me'>>('/api/v2/organizations/me', '/api/v2/users/me', '/api/v2/routing/queues');
const tamperings = fc.constantFrom(...(Object.keys(TAMPERINGS) as Tampering[])).map((tampering) => new TamperStore(tampering));
const storeOutages = fc.tuple(fc.constantFrom<StoreOutageKind>('refuse', 'hang'), fc.constantFrom(300, 1_500, 3_000)).map(([kind, ms]) => new StoreOutage(kind, ms));
const burst = fc.tuple(targets, paths, fc.integer({ min: 1, max: 12 })).map(([target, path, size]) => new Burst(target, path, size));

/** Every command; calls weighted up so that most steps carry traffic for the faults to meet, tampering and outages so that runs with a store meet them. */
export function commandsArbitrary(replayPath?: string): fc.Arbitrary<Iterable<Command>> {
  return fc.commands<Model, World, false>(
    [
      burst,
      burst,
      burst,
      fc.constantFrom(50, 250, 700).map((ms) => new Pause(ms)),
      fc.constantFrom<ClientId | undefined>('client-a', 'client-b', 'client-c', undefined).map((clientId) => new Revoke(clientId)),
      targets.map((target) => new RevokeOwnToken(target)),
      fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constant(40)).map((times) => new UnauthorizedSpell(times)),
      fc.tuple(fc.constantFrom(...(Object.keys(RETRY_AFTERS) as RetryAfter[])), fc.integer({ min: 1, max: 4 })).map(([retryAfter, times]) => new TooManyRequests(retryAfter, times)),
      fc.tuple(paths, fc.option(fc.constantFrom(0, 1, 2, 86_400), { nil: undefined }), fc.integer({ min: 200, max: 1_500 })).map(
        ([path, retryAfterSeconds, durationMs]) => new LimitRoute(path, retryAfterSeconds, durationMs),
      ),
      fc.tuple(fc.constantFrom<keyof typeof LOGIN_FAULTS>('down', 'reset', 'hang'), fc.integer({ min: 1, max: 4 })).map(([fault, times]) => new LoginOutage(fault, times)),
      fc.boolean().map((on) => new ThrottleLogins(on)),
      fc.tuple(fc.constantFrom<TenantKey>('tenant-1', 'tenant-2'), fc.constantFrom<Credentials>('client-a', 'client-b', 'client-c', 'client-a-wrong-secret'), fc.boolean()).map(
        ([key, credentials, store]) => new PutTenant(key, credentials, store),
      ),
      fc.constantFrom<TenantKey>('tenant-1', 'tenant-2').map((key) => new RemoveTenant(key)),
      fc.constantFrom<ResolvedKey>('resolved-ok', 'resolved-slow', 'resolved-hang').map((key) => new Resolve(key)),
      tamperings,
      tamperings,
      storeOutages,
      storeOutages,
      fc.constant(new Shutdown()),
    ],
    { maxCommands: 10, ...(replayPath === undefined ? {} : { replayPath }) },
  );
}
