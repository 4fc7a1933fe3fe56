// Why the gateway could not start, in the operator's terms: the setting to look at and what to
// do about it. An OS error code (EADDRINUSE, ENOENT…) with a stack trace makes the operator
// guess which of a dozen settings is wrong; this names it.

/** A start-up failure caused by the environment or a setting; printed without a stack. */
export class StartupError extends Error {
  readonly setting: string;
  readonly fix: string;

  constructor(setting: string, problem: string, fix: string, cause?: unknown) {
    super(problem, cause === undefined ? undefined : { cause });
    this.name = 'StartupError';
    this.setting = setting;
    this.fix = fix;
  }
}

export function isStartupError(err: unknown): err is StartupError {
  return err instanceof StartupError;
}

/** A socket we bind: which settings chose its address and port. */
export interface BindTarget {
  /** What listens there, e.g. "SMTP submission listener". */
  what: string;
  hostSetting: string;
  portSetting: string;
  host: string;
  port: number;
}

/** A failed `listen()` → the setting that chose the address or the port. */
export function listenError(err: unknown, t: BindTarget): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const where = `${t.host}:${t.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new StartupError(
        t.portSetting,
        `${t.what}: port ${t.port} on ${t.host} is already in use`,
        `stop the other process on ${where} (another gateway?) or set ${t.portSetting} to a free port`,
        err,
      );
    case 'EACCES':
    case 'EPERM':
      return new StartupError(
        t.portSetting,
        `${t.what}: not allowed to bind ${where}`,
        `ports below 1024 need privileges: set ${t.portSetting} to 1024 or above (the container uses 2525/2465 and the Service maps 587/465 to them)`,
        err,
      );
    case 'EADDRNOTAVAIL':
      return new StartupError(
        t.hostSetting,
        `${t.what}: address ${t.host} is not an address of this machine`,
        `set ${t.hostSetting} to an address of this host: 127.0.0.1 (local only) or 0.0.0.0 (every interface, as in a container)`,
        err,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartupError(
        t.hostSetting,
        `${t.what}: host name ${t.host} does not resolve`,
        `set ${t.hostSetting} to an IP address of this host (127.0.0.1 or 0.0.0.0)`,
        err,
      );
    default:
      return err instanceof Error ? err : new Error(String(err));
  }
}

/** A certificate or key file that cannot be used. */
export function tlsFileError(err: unknown, certFile: string, keyFile: string): Error {
  const e = err as NodeJS.ErrnoException & { path?: string };
  const setting = e.path === keyFile ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE';
  const file = e.path ?? certFile;
  switch (e.code) {
    case 'ENOENT':
      return new StartupError(
        setting,
        `${setting}: file ${file} does not exist`,
        `mount the certificate Secret at that path, or correct ${setting}; unset both TLS_CERT_FILE and TLS_KEY_FILE for a self-signed development certificate`,
        err,
      );
    case 'EACCES':
    case 'EPERM':
      return new StartupError(
        setting,
        `${setting}: file ${file} is not readable by this process`,
        `make it readable by the gateway's user (uid ${process.getuid?.() ?? '?'}), e.g. the Secret volume's defaultMode/fsGroup`,
        err,
      );
    case 'EISDIR':
      return new StartupError(
        setting,
        `${setting}: ${file} is a directory`,
        `point ${setting} at the PEM file inside it (e.g. tls.crt / tls.key)`,
        err,
      );
    default:
      return err instanceof Error ? err : new Error(String(err));
  }
}

/** The files were read but do not form a usable certificate and key. */
export function tlsPairError(err: unknown, certFile: string, keyFile: string): StartupError {
  return new StartupError(
    'TLS_CERT_FILE',
    `TLS_CERT_FILE/TLS_KEY_FILE: ${certFile} and ${keyFile} are not a PEM certificate chain and its private key (${(err as Error).message})`,
    'TLS_CERT_FILE must hold the PEM certificate chain and TLS_KEY_FILE the matching unencrypted PEM private key',
    err,
  );
}

/** The text main prints for a failed start: what, which setting, how to fix. */
export function describeStartupError(err: StartupError): string {
  return `Cannot start: ${err.message}\n  setting: ${err.setting}\n  fix:     ${err.fix}\n`;
}
