import type { GenesysAuthErrorCode } from 'nestjs-genesys-auth';
import type { StoreOutage } from './tamperable-store.js';
import type { LoggedExchange, Operation, World } from './world.js';
import {
  BUDGET,
  CLOSE_SETTLE_MS,
  MAX_429_REPLAYS,
  RATE_LIMIT,
  RENEWAL_INTERVAL_MS,
  RETRY,
  SLACK_MS,
  STORE_HOLD_MS,
  TOKEN_DEADLINE_MS,
  TOKEN_TIMEOUT_MS,
} from './timings.js';

/** A broken invariant: the message names it and the facts that broke it. */
export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
}

/** Token-endpoint failures a caller may get once the library has tried `retry.maxAttempts` times. */
const LOGIN_FAILURES: ReadonlySet<GenesysAuthErrorCode> = new Set(['unavailable', 'timeout', 'rate_limited', 'bad_response']);
/** What a registration with a wrong secret may get: refused credentials, or a login failure that came first. */
const WRONG_SECRET_FAILURES: ReadonlySet<GenesysAuthErrorCode> = new Set([...LOGIN_FAILURES, 'invalid_client']);
/** The library's longest interval between 401-driven renewals while the API keeps refusing fresh tokens. */
const MAX_RENEWAL_INTERVAL_MS = 300_000;
/**
 * Operations are judged this long after they settled, so that the exchanges that explain them (a
 * token request answered a moment later, say) are in the log. Far below any wait judged.
 */
const JUDGING_DELAY_MS = 100;

/**
 * Checks every invariant on what the world recorded so far; throws an {@link InvariantViolation}
 * for the first one broken. With `final`, judges every settled operation, however recent.
 */
export function checkInvariants(world: World, final = false): void {
  const now = Date.now();
  const fail = (message: string) => {
    throw new InvariantViolation(`${message}\n${describeRun(world)}`);
  };
  const { clientMismatches, budgetExceeded } = world.emulator.stats;
  if (clientMismatches > 0) fail(`invariant 1: ${clientMismatches} request(s) carried a token issued to other credentials (x-emulator-expect-client)`);
  if (budgetExceeded > 0) fail(`invariant 4: the emulator's per-token limiter answered 429 ${budgetExceeded} time(s): the library let more than ${BUDGET.requestsPerToken} requests per ${BUDGET.windowMs} ms through on a token`);

  for (const [name, tokens] of world.tokenServices()) {
    for (const coolDown of tokens.getState().pool.coolDowns ?? []) {
      const remainingMs = coolDown.until.getTime() - now;
      if (remainingMs > RATE_LIMIT.maxCoolDownMs + SLACK_MS) {
        fail(`invariant 3: ${name}'s token slot ${coolDown.slot} cools down for ${remainingMs} ms more, beyond rateLimit.maxCoolDownMs (${RATE_LIMIT.maxCoolDownMs} ms)`);
      }
    }
  }

  for (const operation of world.operations) {
    if (operation.outcome === undefined) {
      const waitedMs = now - operation.startedAt;
      if (world.closedAt === undefined && waitedMs > operation.bound) fail(`invariant 3: ${describe(world, operation)} still pending after ${waitedMs} ms (bound ${operation.bound} ms)`);
      continue;
    }
    if (operation.judged || (!final && operation.settledAt! > now - JUDGING_DELAY_MS)) continue;
    operation.judged = true;
    const problem = judge(world, operation);
    if (problem) fail(`${problem}\n  in ${describe(world, operation)}`);
  }

  const excess = tokenStorm(world) ?? herdAfterCoolDown(world);
  if (excess) fail(excess);
}

/** Invariant 5: after `close()`, every operation settled promptly. */
export function checkClosed(world: World, unsettled: readonly Operation[]): void {
  if (unsettled.length === 0) return;
  throw new InvariantViolation(
    `invariant 5: ${unsettled.length} operation(s) still pending ${CLOSE_SETTLE_MS} ms after the app closed:\n` +
      unsettled.map((operation) => `  ${describe(world, operation)}`).join('\n') +
      `\n${describeRun(world)}`,
  );
}

/** What is wrong with how `operation` ended, if anything. */
function judge(world: World, operation: Operation): string | undefined {
  const outcome = operation.outcome!;
  const settledAt = operation.settledAt!;
  const closing = isClosing(world, operation, settledAt);
  const endForBound = Math.min(settledAt, world.closedAt ?? Number.POSITIVE_INFINITY);
  const bound = operation.bound + (silentStoreDuring(world, operation.startedAt, endForBound) ? STORE_HOLD_MS : 0);
  if (endForBound - operation.startedAt > bound) {
    return `invariant 3: took ${Math.round(endForBound - operation.startedAt)} ms, beyond its bound of ${bound} ms`;
  }
  if ('unexpected' in outcome) return closing ? undefined : `invariant 0: an error that is neither an HTTP answer nor a GenesysAuthError: ${outcome.unexpected}`;
  if ('code' in outcome && outcome.code === 'shutdown') return closing ? undefined : `invariant 0: 'shutdown' while neither the app nor the client was closing`;
  if (operation.kind === 'resolve') {
    const shouldHang = operation.what.includes('resolved-hang');
    if (shouldHang && 'status' in outcome) return `a resolver that never answers produced a client`;
    if (!shouldHang && 'code' in outcome) return `invariant 0: a resolver that answers failed with ${outcome.code}: ${outcome.message}`;
    return undefined;
  }
  if (operation.kind === 'registry') return 'code' in outcome ? `invariant 0: failed with ${outcome.code}: ${outcome.message}` : undefined;
  return judgeCall(world, operation, outcome, closing);
}

function judgeCall(world: World, call: Operation, outcome: Exclude<Operation['outcome'], undefined>, closing: boolean): string | undefined {
  const attempts = attemptsOf(world, call);
  if ('status' in outcome) {
    const { status } = outcome;
    if (status >= 200 && status < 300) {
      if (call.wrongSecret) return `invariant 1: a registration with a wrong secret got ${status} from the API (another registration's token)`;
      return closing ? undefined : unexplainedWait(world, call, attempts);
    }
    // Closing cuts waits short: a 401 or 429 is then handed back as it is.
    if (closing) return undefined;
    if (status === 401) return call.wrongSecret ? undefined : (unexcused401(world, call, attempts) ?? unexplainedWait(world, call, attempts));
    if (status === 429) return unexcused429(call, attempts) ?? unexplainedWait(world, call, attempts);
    return `invariant 0: unexpected HTTP ${status}`;
  }
  if (!('code' in outcome)) return undefined;
  const { code, message } = outcome;
  if (closing) return undefined;
  if (call.wrongSecret) return WRONG_SECRET_FAILURES.has(code) || code === 'rejected_by_api' || code === 'throttled' ? undefined : `invariant 0: a wrong secret ended in ${code}: ${message}`;
  if (code === 'rejected_by_api') return unexcused401(world, call, attempts) ?? unexplainedWait(world, call, attempts, call.settledAt);
  if (code === 'throttled') return unexplainedWait(world, call, attempts, call.settledAt);
  if (LOGIN_FAILURES.has(code)) return unexcusedLoginFailure(world, call, code);
  return `invariant 0: unexpected ${code}: ${message}`;
}

/** Whether the app or the operation's registry client was closing when it settled. */
function isClosing(world: World, operation: Operation, settledAt: number): boolean {
  if (world.closedAt !== undefined && world.closedAt <= settledAt) return true;
  const retiredAt = operation.client && world.retiredAt.get(operation.client);
  return retiredAt !== undefined && retiredAt <= settledAt;
}

/** The API requests a call sent (its first attempt and replays), in order. */
function attemptsOf(world: World, call: Operation): LoggedExchange[] {
  return world.exchanges.filter((exchange) => exchange.route === 'api' && exchange.operationId === call.id).sort((a, b) => a.receivedAt - b.receivedAt);
}

function apiExchangesOf(world: World, clientId: string): LoggedExchange[] {
  return world.exchanges.filter((exchange) => exchange.route === 'api' && exchange.countsFor === clientId);
}

/**
 * Invariant 2: a caller gets a 401 (or `rejected_by_api`, not sent) only when a 401 already renewed
 * that client's token within the renewal interval. Excused: any API-wide 401 spell so far; or an
 * earlier 401 on another of the client's tokens (the one renewed) within the interval, doubled for
 * each token refused since the API last accepted one of the client's tokens.
 */
function unexcused401(world: World, call: Operation, attempts: readonly LoggedExchange[]): string | undefined {
  const settledAt = call.settledAt!;
  const spell = world.exchanges.find((exchange) => exchange.route === 'api' && exchange.cause === 'fault' && exchange.status === 401 && exchange.answeredAt <= settledAt);
  if (spell) return undefined;
  const final = attempts.at(-1)?.status === 401 ? attempts.at(-1) : undefined;
  const finalAt = final?.answeredAt ?? settledAt;
  const history = apiExchangesOf(world, call.clientId)
    .filter((exchange) => exchange !== final && exchange.answeredAt <= finalAt && exchange.status !== undefined)
    .sort((a, b) => a.answeredAt - b.answeredAt);
  const refusedInARow = new Set<string | undefined>();
  for (const exchange of history) {
    if (exchange.status === 401) refusedInARow.add(exchange.tokenHash);
    else refusedInARow.clear();
  }
  const intervalMs = Math.min(MAX_RENEWAL_INTERVAL_MS, RENEWAL_INTERVAL_MS * 2 ** refusedInARow.size);
  const renewal = history.find(
    (exchange) => exchange.status === 401 && (final === undefined || exchange.tokenHash !== final.tokenHash) && finalAt - exchange.answeredAt < intervalMs + SLACK_MS,
  );
  if (renewal) return undefined;
  return `invariant 2: the caller got ${final ? 'a 401' : 'rejected_by_api'} at +${Math.round(finalAt - world.startedAt)} ms though no 401 had renewed ${call.clientId}'s token within the renewal interval (${intervalMs} ms) and no API-wide 401 spell was injected`;
}

/**
 * Invariant 3 for 429s: a 429 is replayed after its cool-down (at most `maxCoolDownMs`) while that
 * fits in `maxWaitMs` and the replays allowed; handing one back sooner means a cool-down had no ceiling.
 */
function unexcused429(call: Operation, attempts: readonly LoggedExchange[]): string | undefined {
  const refused = attempts.filter((attempt) => attempt.status === 429).length;
  const waitedMs = call.settledAt! - call.startedAt;
  if (refused > MAX_429_REPLAYS || waitedMs >= RATE_LIMIT.maxWaitMs - RATE_LIMIT.maxCoolDownMs - SLACK_MS) return undefined;
  return `invariant 3: a 429 was handed back after ${waitedMs} ms and ${refused} refused attempt(s), though a cool-down of at most rateLimit.maxCoolDownMs (${RATE_LIMIT.maxCoolDownMs} ms) still fitted in rateLimit.maxWaitMs (${RATE_LIMIT.maxWaitMs} ms)`;
}

/**
 * Invariant 3 (e): a login failure reaches a caller only after `retry.maxAttempts` failed token
 * requests of its client around its call: during it, or in the refresh it joined (started up to a
 * refresh's deadline earlier), or in the one whose backoff it fell into.
 */
function unexcusedLoginFailure(world: World, call: Operation, code: GenesysAuthErrorCode): string | undefined {
  const from = call.startedAt - TOKEN_DEADLINE_MS - SLACK_MS;
  const failures = world.exchanges.filter(
    (exchange) =>
      exchange.route === 'token' && exchange.clientId === call.clientId && exchange.rightSecret && exchange.status !== 200 && exchange.answeredAt >= from && exchange.answeredAt <= call.settledAt!,
  );
  if (failures.length >= RETRY.maxAttempts) return undefined;
  return `invariant 3: the caller got '${code}' after ${failures.length} failed token request(s) of ${call.clientId} around its call, fewer than retry.maxAttempts (${RETRY.maxAttempts})`;
}

/**
 * Invariant 3 (held back only for a reason): every wait of a call (before its first attempt, between
 * attempts, and before a `throttled`) longer than the slack is explained by a token request of its
 * client, a 429 cool-down (at most `maxCoolDownMs`, then the probe's answer), or a budget really used
 * (`requestsPerToken` requests the API counts, i.e. not answered 401, within a window).
 */
function unexplainedWait(world: World, call: Operation, attempts: readonly LoggedExchange[], finalEnd?: number): string | undefined {
  let waitFrom = call.startedAt;
  const waits: [number, number][] = [];
  for (const attempt of attempts) {
    waits.push([waitFrom, attempt.receivedAt]);
    waitFrom = attempt.answeredAt;
  }
  if (finalEnd !== undefined) waits.push([waitFrom, finalEnd]);
  for (const [from, to] of waits) {
    if (to - from <= SLACK_MS || isExplained(world, call.clientId, from, to)) continue;
    return `invariant 3: held back ${Math.round(to - from)} ms (from +${Math.round(from - world.startedAt)} to +${Math.round(to - world.startedAt)} ms) with no token request, 429 cool-down or spent budget of ${call.clientId} to explain it`;
  }
  return undefined;
}

function isExplained(world: World, clientId: string, from: number, to: number): boolean {
  const api = apiExchangesOf(world, clientId);
  if (budgetSpentDuring(api, from, to)) return true;
  let explainedUntil = from + SLACK_MS;
  // A store call made while the store stays silent holds its caller until the library's bound on it.
  for (const outage of silentOutages(world)) {
    if (outage.from <= to && from <= outage.until + STORE_HOLD_MS) explainedUntil = Math.max(explainedUntil, outage.until + STORE_HOLD_MS + SLACK_MS);
  }
  for (const exchange of world.exchanges) {
    if (exchange.route !== 'token' || exchange.clientId !== clientId || exchange.receivedAt > to) continue;
    const endedAt = exchange.dropped === 'hang' ? exchange.receivedAt + TOKEN_TIMEOUT_MS : exchange.answeredAt;
    const backoffMs = exchange.status === 200 ? 0 : RETRY.maxDelayMs;
    explainedUntil = Math.max(explainedUntil, endedAt + backoffMs + SLACK_MS);
  }
  for (const refusal of api) {
    if (refusal.status !== 429 || refusal.answeredAt > to) continue;
    let coolDownEnd = refusal.answeredAt + RATE_LIMIT.maxCoolDownMs + SLACK_MS;
    // The probe (and then the others) go once the cool-down ends: waiting for the probe's answer is part of it.
    for (const next of api) if (next.receivedAt >= refusal.answeredAt && next.receivedAt <= coolDownEnd) coolDownEnd = Math.max(coolDownEnd, next.answeredAt + SLACK_MS);
    explainedUntil = Math.max(explainedUntil, coolDownEnd);
  }
  return explainedUntil >= to;
}

/** The store's outages during which it did not answer at all (a half-open connection). */
function silentOutages(world: World): StoreOutage[] {
  return world.store?.outages.filter((outage) => outage.kind === 'hang') ?? [];
}

/** Whether the store stayed silent at some moment of [from, to]. */
function silentStoreDuring(world: World, from: number, to: number): boolean {
  return silentOutages(world).some((outage) => outage.from <= to && from < outage.until);
}

/** Whether, at some moment of [from, to], `requestsPerToken` of the client's requests counted against a budget. */
function budgetSpentDuring(api: readonly LoggedExchange[], from: number, to: number): boolean {
  const counted = api.filter((exchange) => exchange.status !== 401);
  const moments = [from, ...counted.map((exchange) => exchange.receivedAt).filter((at) => at > from && at <= to)];
  return moments.some(
    (moment) => counted.filter((exchange) => exchange.receivedAt <= moment + SLACK_MS && exchange.answeredAt + BUDGET.windowMs + SLACK_MS >= moment).length >= BUDGET.requestsPerToken,
  );
}

/**
 * Invariant 4 for the token endpoint: in any renewal interval, a client's token requests stay within
 * a few per token slot it ever had (a refresh, a renewal, their retries), whatever the callers do.
 */
function tokenStorm(world: World): string | undefined {
  for (const [clientId, slots] of world.slotsEver) {
    const limit = slots * 2 * RETRY.maxAttempts + 2;
    const times = world.exchanges
      .filter((exchange) => exchange.route === 'token' && exchange.clientId === clientId && exchange.rightSecret)
      .map((exchange) => exchange.receivedAt)
      .sort((a, b) => a - b);
    for (let first = 0, last = 0; last < times.length; last++) {
      while (times[last] - times[first] >= RENEWAL_INTERVAL_MS) first++;
      if (last - first + 1 > limit) {
        return `invariant 4: ${last - first + 1} token requests of ${clientId} within ${RENEWAL_INTERVAL_MS} ms (from +${Math.round(times[first] - world.startedAt)} ms), beyond ${limit} for its ${slots} token slot(s)`;
      }
    }
  }
  return undefined;
}

/** Requests the library had sent before it could have seen a 429 are not held back by it. */
const IN_FLIGHT_MARGIN_MS = 50;

/**
 * Invariant 4 after a 429: once the cool-down ends, one request (the probe) goes first on that token
 * and the others wait for its answer, so that the end of a cool-down does not send a herd into a
 * limit that may still hold. Checked per registration (each paces its own callers) and token.
 */
function herdAfterCoolDown(world: World): string | undefined {
  const api = world.exchanges.filter((exchange) => exchange.route === 'api' && exchange.unit !== undefined && exchange.tokenHash !== undefined);
  for (const refusal of api) {
    if (refusal.status !== 429) continue;
    const after = api
      .filter((next) => next.unit === refusal.unit && next.tokenHash === refusal.tokenHash && next.receivedAt > refusal.answeredAt)
      .sort((a, b) => a.receivedAt - b.receivedAt);
    const [probe, ...others] = after;
    if (!probe || probe.status === undefined) continue;
    // The probe may follow the 429 at once (a `Retry-After: 0`); others sent within the margin may predate the library seeing it.
    const herd = others.filter((other) => other.receivedAt > refusal.answeredAt + IN_FLIGHT_MARGIN_MS && other.receivedAt < probe.answeredAt);
    if (herd.length > 0) {
      return `invariant 4: ${herd.length + 1} requests of ${refusal.unit} on token ${refusal.tokenHash} went at once after the cool-down of the 429 at +${Math.round(refusal.answeredAt - world.startedAt)} ms (from +${Math.round(probe.receivedAt - world.startedAt)} ms), instead of one probe first`;
    }
  }
  return undefined;
}

function describe(world: World, operation: Operation): string {
  const at = (time: number) => `+${Math.round(time - world.startedAt)}`;
  const outcome = operation.outcome === undefined ? 'pending' : JSON.stringify(operation.outcome);
  const attempts = world.exchanges
    .filter((exchange) => exchange.operationId === operation.id)
    .map((exchange) => `${at(exchange.receivedAt)}→${at(exchange.answeredAt)} ${exchange.status ?? exchange.dropped} ${exchange.cause}${exchange.tokenHash ? ` token ${exchange.tokenHash}` : ''}`);
  return `${operation.id} ${operation.what}${operation.wrongSecret ? ' (wrong secret)' : ''}: started ${at(operation.startedAt)} ms, ${operation.settledAt === undefined ? '' : `settled ${at(operation.settledAt)} ms, `}${outcome}; attempts: [${attempts.join('; ')}]`;
}

/** The run's setup and its exchanges of the last seconds, compactly, for a failure message. */
function describeRun(world: World): string {
  const recent = world.exchanges.slice(-60).map((exchange) => {
    const who = exchange.route === 'token' ? `${exchange.clientId}${exchange.rightSecret ? '' : ' (wrong secret)'}` : `${exchange.countsFor ?? '?'} ${exchange.operationId ?? 'library'} ${exchange.tokenHash ?? ''}`;
    return `  +${Math.round(exchange.receivedAt - world.startedAt)}→+${Math.round(exchange.answeredAt - world.startedAt)} ${exchange.route} ${exchange.request.method} ${exchange.request.path.split('?')[0]} ${who} → ${exchange.status ?? exchange.dropped} ${exchange.cause}`;
  });
  return `setup ${JSON.stringify(world.setup)}; the last ${recent.length} exchanges (ms since the run started):\n${recent.join('\n')}`;
}
