import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { openRedisSpool } from '../../src/spool/redis.ts';
import { TEST_REDIS_URL } from '../helpers/redis.ts';
import { describeSpoolBackend } from './spool-backend-conformance.ts';

async function removeKeys(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
}

describeSpoolBackend('redis', async ({ maxBytes }) => {
  const prefix = `test:${randomUUID()}:`;
  let backend = await openRedisSpool({ url: TEST_REDIS_URL, prefix, maxBytes });
  return {
    backend,
    reopen: async () => {
      await backend.close();
      backend = await openRedisSpool({ url: TEST_REDIS_URL, prefix, maxBytes });
      return backend;
    },
    destroy: async () => {
      await backend.close();
      await removeKeys(prefix);
    },
  };
});
