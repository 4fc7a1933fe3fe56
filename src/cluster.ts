// Multi-core mode (WORKERS > 1): a primary process forks that many gateway processes, which
// share the SMTP ports (node:cluster hands each new connection to one of them), and serves the
// admin port itself: readiness while every worker is up, /metrics summed over the workers.
// A worker that dies is replaced; SIGTERM drains every worker, then the primary exits.
// State is per process: dedupe records (and any limit kept in memory) are only shared between
// workers through Redis (REDIS_URL), which the start-up log says.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import type { Config } from './config/schema.ts';
import { startAdmin } from './http/admin.ts';
import { adminAccess, adminStartupWarning } from './http/admin-auth.ts';
import type { Logger } from './observability/logger.ts';
import { RedisStore } from './state/redis.ts';
import { TraceStore } from './trace/store.ts';

/** What a worker tells the primary once its listeners are up. */
interface ReadyMessage {
  type: 'gateway-ready';
  ports: { submission: number; smtps: number };
}

const RESPAWN_DELAY_MS = 1000;

export function isClusterWorker(): boolean {
  return cluster.isWorker;
}

/** In a worker: lets the primary collect this registry, and says the listeners are up. */
export function announceWorker(registry: Registry, ports: { submission: number; smtps: number }): void {
  // Constructing one is what makes prom-client answer the primary's requests in a worker.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const ready: ReadyMessage = { type: 'gateway-ready', ports };
  process.send?.(ready);
}

/** The primary: fork, watch, aggregate, drain. Resolves with the exit code. */
export async function runPrimary(config: Config, logger: Logger): Promise<number> {
  const aggregator = new AggregatorRegistry();
  const ready = new Set<number>();
  const workers = new Set<Worker>();
  let draining = false;
  let ports: ReadyMessage['ports'] | undefined;

  // Workers' own admin servers are not used: the primary holds ADMIN_PORT.
  const fork = () => {
    const w = cluster.fork({ ADMIN_PORT: '0', ADMIN_HOST: '127.0.0.1' });
    workers.add(w);
    w.on('message', (m: ReadyMessage) => {
      if (m?.type !== 'gateway-ready') return;
      ready.add(w.id);
      ports = m.ports;
    });
    w.on('exit', (code, signal) => {
      workers.delete(w);
      ready.delete(w.id);
      if (draining) return;
      logger.error({ worker: w.id, code, signal }, 'gateway worker exited; starting a new one');
      setTimeout(() => {
        if (!draining) fork();
      }, RESPAWN_DELAY_MS).unref();
    });
  };
  for (let i = 0; i < config.workers; i++) fork();

  // Traces are in Redis when the workers share it: the primary's admin port reads them there (the
  // logins `--live` needs stay in the worker that handled the message). Without Redis each worker
  // keeps its own, out of the primary's reach.
  const traceRedis = config.redisUrl ? new RedisStore(config.redisUrl, config.redisKeyPrefix) : undefined;
  const admin = await startAdmin({
    host: config.adminHost,
    port: config.adminPort,
    access: adminAccess(config),
    ...(traceRedis
      ? {
          messages: {
            traces: new TraceStore(traceRedis, config.traceTtlS, logger),
            liveTimeoutMs: config.apiTimeoutMs,
          },
        }
      : {}),
    metrics: async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }),
    readiness: () => ({ ready: !draining && ready.size === config.workers, detail: { workers: ready.size } }),
  });
  const adminPort = admin.port;
  const adminWarning = adminStartupWarning(config);
  if (adminWarning) logger.warn(adminWarning);

  // Started when every worker has its listeners up (or one failed to start).
  while (ready.size < config.workers) {
    if (workers.size < config.workers && !draining) {
      // A worker died before it was ready: most likely a configuration or port problem that
      // every worker will hit. Give up instead of forking forever.
      await new Promise((r) => setTimeout(r, RESPAWN_DELAY_MS * 2));
      if (ready.size < config.workers && workers.size < config.workers) {
        draining = true;
        for (const w of workers) w.kill('SIGTERM');
        await admin.close();
        await traceRedis?.close();
        process.stderr.write('a gateway worker failed to start; see its log above\n');
        return 1;
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  logger.info(
    { workers: config.workers, ports, admin: adminPort, sharedState: config.redisUrl ? 'redis' : 'none' },
    'gateway ready (multi-process)',
  );
  if (!config.redisUrl) {
    logger.warn(
      { workers: config.workers },
      'WORKERS > 1 without REDIS_URL: dedupe records are per worker, so a resend that reaches another worker can be sent twice; set REDIS_URL to share them',
    );
  }
  const host = config.smtpHost;
  process.stderr.write(
    [
      '',
      `Cakemail SMTP Gateway is running (${config.workers} worker processes).`,
      `  SMTP submission (STARTTLS): ${host}:${ports?.submission}`,
      `  SMTPS (implicit TLS):       ${host}:${ports?.smtps}`,
      `  Admin (health, metrics):    http://${config.adminHost}:${adminPort}/metrics`,
      `  Shared state:               ${config.redisUrl ? 'Redis (REDIS_URL)' : 'none: dedupe records are per worker process (set REDIS_URL to share them)'}`,
      '',
      '',
    ].join('\n'),
  );

  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (draining) return;
      draining = true;
      logger.info({ signal }, 'draining every worker');
      for (const w of workers) w.process.kill('SIGTERM');
      const check = setInterval(() => {
        if (workers.size > 0) return;
        clearInterval(check);
        void admin
          .close()
          .then(() => traceRedis?.close())
          .then(() => resolve(0));
      }, 100);
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}
