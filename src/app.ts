// The composition root: the one place that wires the modules together. Everything else gets
// its collaborators passed in, so tests can build a gateway on port 0 with any configuration.
import { CakemailClient } from './cakemail/client.ts';
import { SenderDirectory } from './cakemail/senders.ts';
import { TokenCache } from './cakemail/tokens.ts';
import { sandboxEnabled } from './config/load.ts';
import { isLoopback } from './config/loopback.ts';
import type { Config } from './config/schema.ts';
import { listenError, StartupError } from './config/startup-error.ts';
import { DedupeRecords } from './delivery/dedupe.ts';
import { DeliveryPipeline } from './delivery/pipeline.ts';
import { startAdmin, type AdminServer } from './http/admin.ts';
import { adminAccess, adminStartupWarning } from './http/admin-auth.ts';
import { createMessageParser } from './mime/parser.ts';
import type { Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { RetryBudget } from './resilience/budget.ts';
import { CircuitBreaker, circuitGaugeValue } from './resilience/circuit.ts';
import { RateLimits } from './resilience/rate-limit.ts';
import { startSandbox, type Sandbox } from './sandbox/server.ts';
import { Authenticator } from './smtp/auth.ts';
import { AuthGuard } from './smtp/auth-guard.ts';
import { NegativeAuthCache } from './smtp/auth-negative-cache.ts';
import { SessionHandlers } from './smtp/handlers.ts';
import type { GatewaySmtpServer } from './smtp/adapter.ts';
import { Admission } from './smtp/admission.ts';
import { cidrMatcher } from './lib/cidr.ts';
import { close, createListeners, listen } from './smtp/listeners.ts';
import { certificateNotAfter, loadTlsMaterial, tlsPolicy, watchTlsFiles, type TlsMaterial } from './smtp/tls.ts';
import { KeyedHash } from './state/keyed-hash.ts';
import { MemoryStore } from './state/memory.ts';
import { MonitoredStore, StoreHealth } from './state/monitored.ts';
import { RedisStore } from './state/redis.ts';
import type { StateStore } from './state/store.ts';
import { SpoolGauges } from './spool/gauges.ts';
import { SpoolIntake } from './spool/intake.ts';
import { DeadLetterExpiry } from './spool/dead-letters.ts';
import { openSpool } from './spool/open.ts';
import { SpoolWorker } from './spool/worker.ts';
import type { SpoolAdminDeps } from './http/spool-admin.ts';
import { LiveLookup } from './delivery/live.ts';
import { TraceStore } from './trace/store.ts';

export interface Gateway {
  config: Config;
  /** altSubmission is absent when SMTP_ALT_SUBMISSION_PORT=0 (off). */
  ports: { submission: number; smtps: number; admin: number; altSubmission?: number };
  apiUrl: string;
  sandbox: Sandbox | undefined;
  tls: TlsMaterial;
  metrics: Metrics;
  /** Every message's trace (what the admin port's /messages reads). */
  traces: TraceStore;
  /** Spool mode: the spool workers (tests stop and start delivery through it). */
  spoolWorker?: SpoolWorker;
  isReady(): boolean;
  /** Graceful drain (docs/architecture.md#state-and-scale): not ready → stop accepting → settle in-flight → close. */
  shutdown(): Promise<void>;
}

export async function startGateway(config: Config, logger: Logger): Promise<Gateway> {
  const metrics = createMetrics();
  // Undone in reverse order on shutdown or on a failed start; SMTP listeners are closed first.
  const cleanups: (() => Promise<void> | void)[] = [];
  const listeners: GatewaySmtpServer[] = [];
  let draining = false;
  try {
    let sandbox: Sandbox | undefined;
    // Its demo login is published: on a public address only when asked for (SANDBOX_ENABLED=true).
    if (config.startSandbox === undefined && config.apiUrl === undefined && !isLoopback(config.smtpHost)) {
      throw new StartupError(
        'CAKEMAIL_API_URL',
        `CAKEMAIL_API_URL is unset and SMTP_HOST=${config.smtpHost} is not a loopback address: the embedded sandbox would accept its published demo login there`,
        'set CAKEMAIL_API_URL (e.g. https://api.cakemail.dev) to send through Cakemail, or SANDBOX_ENABLED=true to run the sandbox on purpose',
      );
    }
    if (sandboxEnabled(config)) {
      sandbox = await startSandbox({
        host: config.sandboxHost,
        port: config.sandboxPort,
        maxEmails: config.sandboxMaxEmails,
        logger: logger.child({ component: 'sandbox' }),
      }).catch((err: unknown) => {
        throw listenError(err, {
          what: 'Cakemail API sandbox',
          hostSetting: 'SANDBOX_HOST',
          portSetting: 'SANDBOX_PORT',
          host: config.sandboxHost,
          port: config.sandboxPort,
        });
      });
      cleanups.push(() => sandbox?.close());
    }
    const apiUrl = sandbox ? sandbox.url : (config.apiUrl as string);

    const client = new CakemailClient({
      baseUrl: apiUrl,
      timeoutMs: config.apiTimeoutMs,
      maxConnections: config.apiMaxConnections,
      metrics,
    });
    cleanups.push(() => client.close());
    const tokens = new TokenCache({
      client,
      refreshMarginMs: config.tokenRefreshMarginMs,
      recheckMs: config.authRecheckS * 1000,
      onSizeChange: (n) => metrics.tokenCacheEntries.set(n),
      ...(config.accountId !== undefined ? { accountId: config.accountId } : {}),
    });
    const senders = new SenderDirectory({ client, ttlMs: config.senderCacheTtlMs });
    // Memory is always up; Redis reports its connection's ups and downs (one log line each).
    const health = new StoreHealth(metrics, logger.child({ component: 'state' }), config.redisUrl ? undefined : true);
    const backend = config.redisUrl
      ? new RedisStore(config.redisUrl, config.redisKeyPrefix, (up, detail) => health.report(up, detail))
      : new MemoryStore(Date.now, {
          maxEntries: config.dedupeMaxEntries,
          onEvict: () => metrics.dedupeEvictions.inc(),
        });
    cleanups.push(() => backend.close());
    if (backend instanceof RedisStore) {
      // Not fatal: everything kept in the store fails open while Redis is away (docs/architecture.md#state-and-scale).
      await backend.ready().catch((err: Error) => health.report(false, err.message));
    }
    const store: StateStore = new MonitoredStore(backend, health);
    // Traces share Redis with the fleet; in memory they get their own bound, so a burst of traces
    // can never evict a dedupe record (which would turn into a duplicate send).
    const traceBackend =
      backend instanceof RedisStore ? store : new MemoryStore(Date.now, { maxEntries: config.traceMaxEntries });
    if (traceBackend !== store) cleanups.push(() => traceBackend.close());
    const traces = new TraceStore(traceBackend, config.traceTtlS, logger.child({ component: 'trace' }));
    const live = new LiveLookup(client);
    const hash = new KeyedHash(store);
    const auth = new Authenticator({
      tokens,
      guard: new AuthGuard(store, hash, {
        maxFailuresPerIp: config.authMaxFailuresPerIp,
        maxFailuresPerUser: config.authMaxFailuresPerUser,
        windowS: config.authFailureWindowS,
        blockS: config.authBlockS,
        // A login may take two token calls (a refused refresh, then the password grant); a
        // reservation is counted for at least two slots, so it outlives the slowest login.
        pendingSlotMs: config.apiTimeoutMs + 2500,
        // One token call's deadline: by then every login in progress has had time to settle.
        pendingWaitMs: config.apiTimeoutMs,
        newAddressFailuresPerMin: config.authNewAddressFailuresPerMin,
      }),
      negative: new NegativeAuthCache(),
      maxFailuresPerConnection: config.authMaxFailuresPerConnection,
      logger,
      metrics,
    });
    const rateLimits = new RateLimits(store, hash, {
      ipPerMinute: config.rateLimitIpPerMin,
      accountPerMinute: config.rateLimitAccountPerMin,
      trusted: cidrMatcher(config.trustedCidrs),
    });
    const parser = createMessageParser({
      workers: config.parseWorkers,
      timeoutMs: config.parseTimeoutMs,
      heapMb: config.parseHeapMb,
      maxDepth: config.mimeMaxDepth,
      maxParts: config.mimeMaxParts,
      maxHeaderBytes: config.mimeMaxHeaderBytes,
    });
    cleanups.push(() => parser.close());
    // Started before the listeners, so the first messages after a start or a rollout do not wait
    // for a worker thread to load (70–220 ms for the built gateway on a 2-core machine, idle to busy). A worker that cannot start is
    // not fatal here: it is tried again for the next message, which fails with the same reason.
    for (const reason of await parser.warm())
      logger.warn(
        { reason, heapMb: config.parseHeapMb },
        'a parse worker did not start; it is tried again for each message',
      );
    const dedupe = new DedupeRecords(store, { ttlS: config.dedupeTtlS, partialTtlS: config.dedupePartialTtlS }, logger);
    // Per process: each pod learns the API's health from its own calls (docs/security.md).
    const circuit = new CircuitBreaker({
      failureRatio: config.circuitFailureRatio,
      minRequests: config.circuitMinRequests,
      windowMs: config.circuitWindowMs,
      openMs: config.circuitOpenMs,
      onTransition: (from, to, info) => {
        metrics.circuitState.set(circuitGaugeValue(to));
        const line = { from, to, ...info, openMs: config.circuitOpenMs };
        if (to === 'open') logger.warn(line, 'circuit breaker opened: RCPT answers 451 4.4.1 until a probe succeeds');
        else if (to === 'closed') logger.info(line, 'circuit breaker closed');
        else logger.info(line, 'circuit breaker half-open: probing the API');
      },
    });
    metrics.circuitState.set(0);
    const pipeline = new DeliveryPipeline({
      live,
      config,
      parser,
      senders,
      client,
      dedupe,
      circuit,
      retryBudget: new RetryBudget(),
      logger,
      metrics,
      // Test-mode messages show in the embedded sandbox's inbox; with the real API they are logged and counted.
      testSink: sandbox ? (record) => sandbox.recordTestMessage(record) : undefined,
    });
    // Spool mode (docs/architecture.md#spool-mode): DATA ends at the durable write; workers deliver.
    let spool: { worker: SpoolWorker; gauges: SpoolGauges; admin: SpoolAdminDeps } | undefined;
    let intake: SpoolIntake | undefined;
    if (config.deliveryMode === 'spool') {
      const spoolLog = logger.child({ component: 'spool' });
      const opened = await openSpool(config, {
        quarantined: (q) => {
          metrics.spoolQuarantined.inc();
          spoolLog.error(
            { spoolId: q.id, reason: q.reason, moved: q.moved, ...(q.error ? { err: q.error } : {}) },
            q.moved
              ? 'spooled message damaged: moved to quarantine, not delivered (docs/runbooks/SmtpGatewaySpoolQuarantined.md)'
              : 'spooled message damaged and could not be moved to quarantine: not delivered (docs/runbooks/SmtpGatewaySpoolQuarantined.md)',
          );
        },
      });
      cleanups.push(() => opened.backend.close());
      const gauges = new SpoolGauges(opened.backend, metrics, config.spoolMaxBytes, 15_000);
      cleanups.push(() => gauges.stop());
      await gauges.refresh();
      const expiry = new DeadLetterExpiry({
        backend: opened.backend,
        ttlS: config.spoolDeadTtlS,
        // A tenth of the TTL, at most every 10 minutes: a dead letter outlives its TTL by that at most.
        intervalMs: Math.max(1000, Math.min(600_000, config.spoolDeadTtlS * 100)),
        logger: spoolLog,
        metrics,
        changed: () => gauges.changed(),
      });
      cleanups.push(() => expiry.stop());
      void expiry.run();
      const worker = new SpoolWorker({
        backend: opened.backend,
        pipeline,
        client,
        tokens,
        keys: opened.keys,
        config,
        logger: logger.child({ component: 'spool' }),
        metrics,
        settled: () => gauges.changed(),
        traces,
        live,
      });
      intake = new SpoolIntake({
        pipeline,
        backend: opened.backend,
        keys: opened.keys,
        senderCheckMs: Math.min(config.spoolSenderCheckMs, config.messageDeadlineMs),
        logger,
        metrics,
        stored: () => (worker.wake(), gauges.changed()),
      });
      spool = { worker, gauges, admin: { backend: opened.backend, changed: () => (worker.wake(), gauges.changed()) } };
      logger.info(
        { backend: config.spoolBackend, location: opened.location, maxBytes: config.spoolMaxBytes },
        'spool mode: 250 after the durable write, delivery by the spool workers',
      );
      for (const w of opened.warnings) logger.warn({ backend: config.spoolBackend }, w);
    }
    const handlers = new SessionHandlers(
      intake && spool
        ? {
            auth,
            rateLimits,
            pipeline: intake,
            spoolFull: spoolFullCheck(spool.gauges, config.spoolMaxBytes),
            logger,
            metrics,
            maxMessageBytes: config.maxMessageBytes,
            traces,
          }
        : { auth, rateLimits, pipeline, circuit, logger, metrics, maxMessageBytes: config.maxMessageBytes, traces },
    );

    const tls = await loadTlsMaterial(config.tlsCertFile, config.tlsKeyFile, config.serverName);
    metrics.tlsCertificateExpiry.set(certificateNotAfter(tls.cert));
    const admission = new Admission({
      maxConnections: config.maxConnections,
      maxPerIp: config.maxConnectionsPerIp,
      maxPerPrefix: config.maxConnectionsPerPrefix,
      prefixV4: config.connectionPrefixV4,
      prefixV6: config.connectionPrefixV6,
      stressAt: Math.ceil((config.maxConnections * config.stressThresholdPercent) / 100),
      stressIdleMs: config.stressIdleTimeoutMs,
      stressAuthMs: config.stressAuthTimeoutMs,
      trusted: cidrMatcher(config.trustedCidrs),
      logger,
      metrics,
    });
    cleanups.push(() => admission.close());
    const servers = createListeners(config, tls, handlers, admission, logger, metrics);
    if (config.tlsCertFile && config.tlsKeyFile) {
      const stop = watchTlsFiles(
        config.tlsCertFile,
        config.tlsKeyFile,
        config.tlsReloadIntervalMs,
        (m) => {
          servers.submission.updateSecureContext(tlsPolicy(m));
          servers.smtps.updateSecureContext(tlsPolicy(m));
          servers.altSubmission?.updateSecureContext(tlsPolicy(m));
          metrics.tlsCertificateExpiry.set(certificateNotAfter(m.cert));
        },
        logger,
      );
      cleanups.push(stop);
    }
    // A failed bind names the setting that chose the address or port (startup-error.ts).
    const smtpTarget = (what: string, portSetting: string, port: number) => ({
      what,
      hostSetting: 'SMTP_HOST',
      portSetting,
      host: config.smtpHost,
      port,
    });
    const submission = await listen(
      servers.submission,
      config.smtpHost,
      config.submissionPort,
      config.listenBacklog,
    ).catch((err: unknown) => {
      throw listenError(err, smtpTarget('SMTP submission listener', 'SMTP_SUBMISSION_PORT', config.submissionPort));
    });
    listeners.push(servers.submission);
    const smtps = await listen(servers.smtps, config.smtpHost, config.smtpsPort, config.listenBacklog).catch(
      (err: unknown) => {
        throw listenError(err, smtpTarget('SMTPS listener', 'SMTP_SMTPS_PORT', config.smtpsPort));
      },
    );
    listeners.push(servers.smtps);
    let altSubmission: number | undefined;
    if (servers.altSubmission) {
      altSubmission = await listen(
        servers.altSubmission,
        config.smtpHost,
        config.altSubmissionPort,
        config.listenBacklog,
      ).catch((err: unknown) => {
        throw listenError(
          err,
          smtpTarget('alternate submission listener', 'SMTP_ALT_SUBMISSION_PORT', config.altSubmissionPort),
        );
      });
      listeners.push(servers.altSubmission);
    }
    const admin: AdminServer = await startAdmin({
      host: config.adminHost,
      port: config.adminPort,
      access: adminAccess(config),
      metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      readiness: () => ({ ready: !draining }),
      spool: spool?.admin,
      messages: { traces, live, liveTimeoutMs: config.apiTimeoutMs * 2 },
    }).catch((err: unknown) => {
      throw listenError(err, {
        what: 'admin HTTP server',
        hostSetting: 'ADMIN_HOST',
        portSetting: 'ADMIN_PORT',
        host: config.adminHost,
        port: config.adminPort,
      });
    });
    cleanups.push(() => admin.close());
    const adminWarning = adminStartupWarning(config);
    if (adminWarning) logger.warn(adminWarning);
    if (spool) {
      spool.worker.start();
      const worker = spool.worker;
      // Before the API client closes (cleanups run in reverse): in-flight sends finish first.
      cleanups.push(() => worker.stop(config.shutdownTimeoutMs));
    }

    let shutdownPromise: Promise<void> | undefined;
    const shutdown = () =>
      (shutdownPromise ??= (async () => {
        draining = true;
        admission.drain();
        handlers.drain();
        logger.info('draining: readiness false, no new connections');
        const closing = listeners.map(close);
        const idle = listeners.reduce((n, l) => n + l.closeIdle((id) => handlers.isBusy(id)), 0);
        logger.info({ idleClosed: idle }, 'idle sessions answered 421 4.3.2');
        await handlers.settled();
        logger.info('in-flight messages settled');
        // Sessions that just got their DATA reply are closed now rather than at closeTimeout.
        for (const l of listeners) l.closeIdle(() => false);
        await Promise.all(closing);
        await handlers.settled();
        await runCleanups(cleanups.reverse(), logger);
      })());

    return {
      config,
      ports: { submission, smtps, admin: admin.port, ...(altSubmission !== undefined ? { altSubmission } : {}) },
      apiUrl,
      sandbox,
      tls,
      metrics,
      traces,
      ...(spool ? { spoolWorker: spool.worker } : {}),
      isReady: () => !draining,
      shutdown,
    };
  } catch (err) {
    await Promise.all(listeners.map(close));
    await runCleanups(cleanups.reverse(), logger);
    throw err;
  }
}

/**
 * RCPT answers 452 4.3.1 only when the message cannot fit: the SIZE the client declared at MAIL
 * is more than the budget left (or nothing is left). Otherwise the write at DATA decides.
 */
function spoolFullCheck(gauges: SpoolGauges, maxBytes: number): (bytes: number) => boolean {
  return (bytes) => (gauges.last?.bytes ?? 0) + bytes >= maxBytes;
}

async function runCleanups(cleanups: (() => Promise<void> | void)[], logger: Logger): Promise<void> {
  for (const c of cleanups) {
    try {
      await c();
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'cleanup failed');
    }
  }
}
