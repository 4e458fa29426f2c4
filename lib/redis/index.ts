export { RedisTokenStore, type RedisClientLike, type RedisTokenStoreOptions } from './redis-token-store.js';
