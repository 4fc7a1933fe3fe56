// `smtp-gateway loadtest`: options → loopback check → run → a human summary and one JSON line
// on stdout (the progress line goes to stderr). Exit 0 when every message was accepted,
// 1 otherwise, 2 on bad options or a target that is not loopback.
import { isLoopbackTarget, LOADTEST_HELP, parseLoadOptions } from './options.ts';
import { humanReport, runLoad } from './run.ts';

export async function loadtestCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseLoadOptions(argv);
  if (parsed.ok === 'help') {
    process.stdout.write(LOADTEST_HELP);
    return 0;
  }
  if (!parsed.ok) {
    process.stderr.write(`${parsed.errors.map((e) => `loadtest: ${e}`).join('\n')}\n\n${LOADTEST_HELP}`);
    return 2;
  }
  const o = parsed.options;
  if (!o.allowRemote && !(await isLoopbackTarget(o.host))) {
    process.stderr.write(
      `loadtest: ${o.host} is not a loopback address; a load test floods its target, pass --allow-remote if this one is yours\n`,
    );
    return 2;
  }
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  const tty = process.stderr.isTTY;
  let lines = 0;
  const report = await runLoad(o, {
    signal: abort.signal,
    onProgress: o.progress
      ? (line) => {
          // On a terminal the line is redrawn; in a log, one line every 5 s.
          if (tty) process.stderr.write(`\r\x1b[K${line}`);
          else if (lines++ % 5 === 0) process.stderr.write(`${line}\n`);
        }
      : undefined,
  });
  process.off('SIGINT', stop);
  if (o.progress && tty) process.stderr.write('\r\x1b[K');
  if (!o.json) process.stdout.write(humanReport(report) + '\n');
  process.stdout.write(JSON.stringify(report) + '\n');
  return report.rejected === 0 && report.accepted > 0 ? 0 : 1;
}
