import { MemoryTokenStore, type GenesysTokenStore } from 'nestjs-genesys-auth';

/** A memory store that can go half-open: while `silent`, every call (its close included) never settles, as a Redis that accepts connections and never answers. */
export class SilentStore extends MemoryTokenStore {
  silent = false;

  private answer<T>(call: () => Promise<T>): Promise<T> {
    return this.silent ? new Promise<T>(() => undefined) : call();
  }

  override getToken(...args: Parameters<GenesysTokenStore['getToken']>) {
    return this.answer(() => super.getToken(...args));
  }
  override setToken(...args: Parameters<GenesysTokenStore['setToken']>) {
    return this.answer(() => super.setToken(...args));
  }
  override acquireLock(...args: Parameters<GenesysTokenStore['acquireLock']>) {
    return this.answer(() => super.acquireLock(...args));
  }
  override releaseLock(...args: Parameters<GenesysTokenStore['releaseLock']>) {
    return this.answer(() => super.releaseLock(...args));
  }
  override claimBudget(...args: Parameters<GenesysTokenStore['claimBudget']>) {
    return this.answer(() => super.claimBudget(...args));
  }
  override settleBudget(...args: Parameters<GenesysTokenStore['settleBudget']>) {
    return this.answer(() => super.settleBudget(...args));
  }
  override coolDown(...args: Parameters<GenesysTokenStore['coolDown']>) {
    return this.answer(() => super.coolDown(...args));
  }
  close(): Promise<void> {
    return this.answer(() => Promise.resolve());
  }
}
