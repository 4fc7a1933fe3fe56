// Checked, whole writes for the directory spool (docs/architecture.md#spool-mode). write(2) on a
// full disk returns a short count instead of failing, and an fsync can report an I/O error that
// the writes did not: a 250 is allowed only when every byte was written, read back, and synced.
// The file-system calls come in as `SpoolFs`, so the fault-injection tests can make any step
// fail the way a real disk does (test/unit/spool-dir-faults.test.ts).
import { constants, promises as nodeFs } from 'node:fs';

/** The file-system calls the directory spool makes: node's own, or a faulty one in tests. */
export type SpoolFs = Pick<
  typeof nodeFs,
  | 'open'
  | 'rename'
  | 'rm'
  | 'readFile'
  | 'readdir'
  | 'mkdir'
  | 'stat'
  | 'appendFile'
  | 'writeFile'
  | 'access'
  | 'statfs'
>;

export const realFs: SpoolFs = nodeFs;

/** The storage errors a put answers 452 4.3.1 for: the disk or the quota is full. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** True when `err` says the file system has no room (ENOSPC, EDQUOT): 452, not 451. */
export function isNoSpace(err: unknown): boolean {
  return NO_SPACE.has((err as NodeJS.ErrnoException)?.code ?? '');
}

/** A file whose bytes are not all there after the write: thrown, never renamed into place. */
export class ShortWriteError extends Error {
  readonly code = 'ESHORTWRITE';
}

/**
 * Writes every byte of `chunks` at the handle's position: a short count is retried from where it
 * stopped; a write that makes no progress fails (ENOSPC when the disk reports none, which is what
 * a short count at a full disk is followed by).
 */
export async function writeWhole(fh: nodeFs.FileHandle, chunks: readonly Uint8Array[]): Promise<number> {
  let total = 0;
  for (const c of chunks) {
    let off = 0;
    while (off < c.length) {
      const { bytesWritten } = await fh.write(c, off, c.length - off);
      if (bytesWritten <= 0) {
        const err = new ShortWriteError(`write made no progress at byte ${total + off}`) as ShortWriteError & {
          code: string;
        };
        throw err;
      }
      off += bytesWritten;
    }
    total += c.length;
  }
  return total;
}

/**
 * Creates `path` (truncating) with `chunks`, checks its size on disk, and fsyncs it. Any failure
 * (short write, ENOSPC, EIO on write or fsync) throws; the caller removes the file.
 */
export async function writeDurably(files: SpoolFs, path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const fh = await files.open(path, 'w', 0o600);
  try {
    const expected = await writeWhole(fh, chunks);
    await fh.sync();
    await checkSize(fh, path, expected);
  } finally {
    await fh.close();
  }
}

/** The file's size on disk is what was written: guards against a write that lied about its count. */
export async function checkSize(fh: nodeFs.FileHandle, path: string, expected: number): Promise<void> {
  const { size } = await fh.stat();
  if (size !== expected) throw new ShortWriteError(`${path} holds ${size} of ${expected} bytes after the write`);
}

/** Appends one record whole and makes it durable (fdatasync). */
export async function appendDurably(fh: nodeFs.FileHandle, data: Uint8Array): Promise<void> {
  await writeWhole(fh, [data]);
  await fh.datasync();
}

export async function fsyncDir(files: SpoolFs, dir: string): Promise<void> {
  const fh = await files.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function exists(files: SpoolFs, path: string): Promise<boolean> {
  return files.access(path).then(
    () => true,
    () => false,
  );
}

export const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND;
