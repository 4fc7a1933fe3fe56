// The benchmark matrix: shapes × concurrency × messages per connection × recipients, and the
// `--quick` subset that answers the targets in a few minutes.
import type { LoadReport } from '../../src/loadtest/run.ts';
import type { ShapeName } from '../../src/loadtest/shapes.ts';

export interface Cell {
  shape: ShapeName;
  concurrency: number;
  perConnection: number;
  recipients: number;
}

/** What one loadtest run against a cell measured: the client's report, CPU and peak RSS. */
export interface Measured {
  report: LoadReport;
  cpuMsPerMessage: number;
  peakRssMb: number;
  apiCalls?: number;
}

export const cellName = (c: Cell) => `${c.shape} c${c.concurrency} k${c.perConnection} r${c.recipients}`;

/** The headline: 20 KB HTML, 100 connections, 100 messages each, 1 recipient. */
export const HEADLINE: Cell = { shape: 'html20k', concurrency: 100, perConnection: 100, recipients: 1 };

export function fullMatrix(): Cell[] {
  const cells: Cell[] = [];
  for (const shape of ['text1k', 'html20k', 'pdf300k'] as const)
    for (const concurrency of [1, 10, 100, 1000])
      for (const perConnection of [1, 100])
        for (const recipients of [1, 5]) cells.push({ shape, concurrency, perConnection, recipients });
  return cells;
}

export function quickMatrix(): Cell[] {
  return [
    HEADLINE,
    { ...HEADLINE, recipients: 5 },
    { ...HEADLINE, perConnection: 1 },
    { ...HEADLINE, concurrency: 1000 },
    { ...HEADLINE, shape: 'text1k' },
    { ...HEADLINE, shape: 'pdf300k', concurrency: 10 },
  ];
}
