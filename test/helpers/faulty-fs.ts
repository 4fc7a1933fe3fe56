// A file system that fails the way a real disk does, for the directory spool (SpoolFs): node's own
// calls, with faults injected at the file handle (short writes, ENOSPC, EIO on write or fsync) and
// a byte quota that behaves like a full volume: the write that crosses it is cut short, the next
// one fails ENOSPC. Also: a real tmpfs of a given size, where this machine lets us mount one.
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpoolFs } from '../../src/spool/durable-file.ts';

export type FaultOp = 'write' | 'sync' | 'datasync' | 'rename' | 'readFile';

export interface Faults {
  /** Bytes that may still be written before the volume is full (undefined: no limit). */
  quota?: number;
  /** Fail the n-th call (1-based, counted from when it is set) of an operation, optionally only on paths matching. */
  failOn?: { op: FaultOp; nth: number; code: string; path?: RegExp };
  /** Every write returns at most this many bytes (a short count, as on a signal or a full disk). */
  shortWrites?: number;
  /** statfs reports this many bytes available (undefined: what the disk says). */
  freeBytes?: number;
}

export function ioError(code: string, op: string, path: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: injected fault, ${op} '${path}'`) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

/** node's fs, with `faults` (changeable while the test runs) applied. */
export function faultyFs(faults: Faults): SpoolFs & { calls: Record<FaultOp, number> } {
  const calls: Record<FaultOp, number> = { write: 0, sync: 0, datasync: 0, rename: 0, readFile: 0 };
  // Matching calls since the fault was set (a new failOn object starts a new count).
  let counting: Faults['failOn'];
  let matched = 0;
  const trip = (op: FaultOp, path: string): void => {
    calls[op]++;
    const f = faults.failOn;
    if (!f || f.op !== op || (f.path && !f.path.test(path))) return;
    if (counting !== f) {
      counting = f;
      matched = 0;
    }
    matched++;
    if (matched === f.nth) throw ioError(f.code, op, path);
  };
  const open = (async (path: string, flags?: string | number, mode?: number) => {
    const fh = await fs.open(path, flags, mode);
    const p = String(path);
    return {
      fd: fh.fd,
      async write(buf: Uint8Array, offset = 0, length = buf.length - offset) {
        trip('write', p);
        let n = Math.min(length, faults.shortWrites ?? length);
        if (faults.quota !== undefined) {
          if (faults.quota <= 0 && n > 0) throw ioError('ENOSPC', 'write', p);
          n = Math.min(n, faults.quota);
          faults.quota -= n;
        }
        return fh.write(buf, offset, n);
      },
      async sync() {
        trip('sync', p);
        return fh.sync();
      },
      async datasync() {
        trip('datasync', p);
        return fh.datasync();
      },
      stat: () => fh.stat(),
      close: () => fh.close(),
    };
  }) as unknown as SpoolFs['open'];
  return {
    ...fs,
    calls,
    open,
    rename: async (from, to) => {
      trip('rename', String(to));
      return fs.rename(from, to);
    },
    statfs: (async (path: string) => {
      const st = await fs.statfs(path);
      if (faults.freeBytes === undefined) return st;
      return { ...st, bavail: Math.floor(faults.freeBytes / st.bsize) };
    }) as SpoolFs['statfs'],
    readFile: (async (path: string, opts?: unknown) => {
      trip('readFile', String(path));
      return fs.readFile(path, opts as BufferEncoding);
    }) as SpoolFs['readFile'],
  };
}

/**
 * A real tmpfs of `bytes` (mount needs root and a kernel that allows it here); null where it
 * cannot be mounted, and the caller uses the injected quota instead.
 */
export async function smallTmpfs(bytes: number): Promise<{ dir: string; unmount(): Promise<void> } | null> {
  const dir = await mkdtemp(join(tmpdir(), 'spool-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    await rm(dir, { recursive: true, force: true });
    return null;
  }
  return {
    dir,
    unmount: async () => {
      execFileSync('umount', [dir], { stdio: 'ignore' });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
