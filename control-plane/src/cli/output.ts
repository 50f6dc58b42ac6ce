/** Terminal output for the CLI: aligned tables, JSON mode, a progress bar on stderr. */

export interface Output {
  readonly json: boolean;
  /** Print a result: JSON as-is in --json mode, else via `human`. */
  result(value: unknown, human: () => void): void;
  line(text: string): void;
  table(rows: readonly Record<string, unknown>[], columns: readonly string[]): void;
  progress(label: string): (done: number, total: number) => void;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

export function createOutput(
  json: boolean,
  stdout = process.stdout,
  stderr = process.stderr,
): Output {
  return {
    json,
    result(value, human) {
      if (json) stdout.write(JSON.stringify(value, null, 2) + '\n');
      else human();
    },
    line(text) {
      stdout.write(text + '\n');
    },
    table(rows, columns) {
      const body = rows.map((r) => columns.map((c) => cell(r[c])));
      const widths = columns.map((c, i) => Math.max(c.length, ...body.map((b) => b[i]!.length)));
      const fmt = (cells: string[]) =>
        cells
          .map((x, i) => x.padEnd(widths[i]!))
          .join('  ')
          .trimEnd();
      stdout.write(fmt(columns.map((c) => c.toUpperCase())) + '\n');
      for (const b of body) stdout.write(fmt(b) + '\n');
      if (rows.length === 0) stdout.write('(none)\n');
    },
    progress(label) {
      const tty = stderr.isTTY;
      let last = -1;
      return (done, total) => {
        const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
        if (json || pct === last) return;
        last = pct;
        const width = 30;
        const filled = Math.round((pct / 100) * width);
        const bar = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${formatBytes(done)}/${formatBytes(total)}`;
        if (tty) stderr.write(`\r${bar}${pct === 100 ? '\n' : ''}`);
        else if (pct % 25 === 0) stderr.write(bar + '\n');
      };
    },
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
