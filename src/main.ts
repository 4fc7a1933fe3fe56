// Entry point: parse the command, load the configuration, start, handle signals. No logic.
import { readFile } from 'node:fs/promises';
import { startGateway } from './app.ts';
import { announceWorker, isClusterWorker, runPrimary } from './cluster.ts';
import { configMarkdown, describeConfig, loadConfig } from './config/load.ts';
import type { Config } from './config/schema.ts';
import { describeStartupError, isStartupError, listenError } from './config/startup-error.ts';
import { loadtestCommand } from './loadtest/cli.ts';
import { spoolCommand } from './spool/cli.ts';
import { traceCommand } from './trace/cli.ts';
import { createLogger } from './observability/logger.ts';
import { startSandbox } from './sandbox/server.ts';
import { DEMO } from './sandbox/seed.ts';

const HELP = `Cakemail SMTP Gateway — SMTP submission to the Cakemail Email API

Usage: smtp-gateway [command]

Commands:
  serve            Run the gateway (default). Without CAKEMAIL_API_URL it also runs the
                   embedded Cakemail API sandbox and sends there.
  sandbox          Run the Cakemail API sandbox alone (web inbox, fault injection).
  config           Print the effective configuration, secrets redacted.
  config --markdown  Print the configuration reference table.
  spool list|show|retry|drop  The spool of a gateway in spool mode (DELIVERY_MODE=spool):
                   list [--dead] [--json], show <id>, retry <id>|--all-dead, drop <id>;
                   'spool --help' for details.
  trace <id> [--json] [--live]  What happened to a message: its trace from the running
                   gateway's admin port (needs ADMIN_TOKEN); --recipient <address> or
                   --message-id <id> search the last hour; 'trace --help' for details.
  loadtest [opts]  Drive an SMTP server (this one or any other) with real SMTP and report
                   msg/s and latency percentiles; 'loadtest --help' lists the options.
  --help           This text ('<command> --help' too: it never starts a server).
  --version        The gateway's version.

All settings come from environment variables; see README.md or 'smtp-gateway config'.
`;

const HELP_FLAGS = new Set(['--help', '-h', 'help']);
const VERSION_FLAGS = new Set(['--version', '-V', 'version']);
/** Commands that take no arguments but their help (and `config --markdown`). */
const NO_ARGUMENTS = new Set(['serve', 'sandbox', 'config']);

async function main(argv: string[]): Promise<number> {
  const [command = 'serve', ...rest] = argv;
  if (HELP_FLAGS.has(command) || (NO_ARGUMENTS.has(command) && rest.some((a) => HELP_FLAGS.has(a)))) {
    process.stdout.write(HELP);
    return 0;
  }
  if (VERSION_FLAGS.has(command) || (NO_ARGUMENTS.has(command) && rest.some((a) => VERSION_FLAGS.has(a)))) {
    process.stdout.write(`smtp-gateway ${await packageVersion()}\n`);
    return 0;
  }
  // A flag a server command does not know is refused, never ignored: `serve --port 25` that
  // started on the configured port anyway would tell the operator something untrue.
  const extra = NO_ARGUMENTS.has(command) ? rest.filter((a) => !(command === 'config' && a === '--markdown')) : [];
  if (extra.length > 0) {
    process.stderr.write(
      `'${command}' takes no arguments (got: ${extra.join(' ')}). Settings come from environment variables: see 'smtp-gateway config' and README.md.\n`,
    );
    return 2;
  }
  if (command === 'loadtest') return loadtestCommand(rest);
  if (command === 'config' && rest.includes('--markdown')) {
    process.stdout.write(configMarkdown() + '\n');
    return 0;
  }
  const loaded = loadConfig(process.env);
  if (!loaded.ok) {
    process.stderr.write(
      `Invalid configuration (${loaded.errors.length} error${loaded.errors.length === 1 ? '' : 's'}):\n${loaded.errors.map((e) => `  - ${e}`).join('\n')}\n`,
    );
    return 2;
  }
  const config = loaded.config;
  switch (command) {
    case 'config':
      process.stdout.write(describeConfig(config).join('\n') + '\n');
      return 0;
    case 'serve':
      return serve(config);
    case 'sandbox':
      return sandboxOnly(config);
    case 'spool':
      return spoolCommand(config, rest, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
    case 'trace':
      return traceCommand(config, rest, { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) });
    default:
      process.stderr.write(`Unknown command '${command}'.\n\n${HELP}`);
      return 2;
  }
}

/** From package.json beside src/ (a checkout) or dist/ (the built package and the image). */
async function packageVersion(): Promise<string> {
  const text = await readFile(new URL('../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

async function serve(config: Config): Promise<number> {
  const logger = createLogger(config.logLevel);
  if (config.workers > 1 && !isClusterWorker()) return runPrimary(config, logger);
  const gw = await startGateway(config, logger);
  logger.info({ ports: gw.ports, api: gw.apiUrl, sandbox: Boolean(gw.sandbox), tls: gw.tls.source }, 'gateway ready');
  if (isClusterWorker()) {
    announceWorker(gw.metrics.registry, gw.ports);
    return waitForSignal(async () => {
      await gw.shutdown();
      logger.flush();
    });
  }
  const host = config.smtpHost;
  const lines = [
    '',
    'Cakemail SMTP Gateway is running.',
    `  SMTP submission (STARTTLS): ${host}:${gw.ports.submission}`,
    `  SMTPS (implicit TLS):       ${host}:${gw.ports.smtps}`,
    ...(gw.ports.altSubmission !== undefined
      ? [`  Alternate submission:       ${host}:${gw.ports.altSubmission}`]
      : []),
    `  Admin (health, metrics):    http://${config.adminHost}:${gw.ports.admin}/metrics`,
    `  TLS certificate:            ${gw.tls.source}`,
  ];
  if (gw.sandbox) {
    lines.push(
      `  Cakemail API sandbox:       ${gw.sandbox.url}  (web inbox: ${gw.sandbox.url}/)`,
      `  Sandbox login:              ${DEMO.username} / ${DEMO.password}`,
      `  Confirmed senders:          ${DEMO.confirmedSenders.join(', ')}`,
      '',
      'Try it:',
      `  swaks --server ${host}:${gw.ports.submission} --tls --auth-user ${DEMO.username} --auth-password ${DEMO.password} \\`,
      `        --from ${DEMO.username} --to someone@example.org`,
    );
  } else {
    lines.push(`  Cakemail API:               ${gw.apiUrl}`);
  }
  process.stderr.write(lines.join('\n') + '\n\n');
  return waitForSignal(async () => {
    await gw.shutdown();
    logger.info('shutdown complete');
    logger.flush();
  });
}

async function sandboxOnly(config: Config): Promise<number> {
  const logger = createLogger(config.logLevel);
  const sandbox = await startSandbox({
    host: config.sandboxHost,
    port: config.sandboxPort,
    maxEmails: config.sandboxMaxEmails,
    logger,
  }).catch((err: unknown) => {
    throw listenError(err, {
      what: 'Cakemail API sandbox',
      hostSetting: 'SANDBOX_HOST',
      portSetting: 'SANDBOX_PORT',
      host: config.sandboxHost,
      port: config.sandboxPort,
    });
  });
  process.stderr.write(
    `Cakemail API sandbox: ${sandbox.url} (web inbox at ${sandbox.url}/; login ${DEMO.username} / ${DEMO.password})\n`,
  );
  return waitForSignal(() => sandbox.close());
}

function waitForSignal(stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`${signal} received, shutting down gracefully\n`);
      stop().then(
        () => resolve(0),
        (err: Error) => {
          process.stderr.write(`shutdown failed: ${err.message}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    // The operator needs the setting and the fix; a stack trace only with LOG_LEVEL=debug.
    const debug = ['debug', 'trace'].includes(process.env.LOG_LEVEL ?? '');
    if (isStartupError(err)) process.stderr.write(describeStartupError(err));
    else process.stderr.write(`Cannot start: ${err.message}\n`);
    if (debug) process.stderr.write(`${(err.cause as Error | undefined)?.stack ?? err.stack ?? ''}\n`);
    else if (!isStartupError(err)) process.stderr.write('  (set LOG_LEVEL=debug for the stack trace)\n');
    process.exit(1);
  },
);
