/** Human sizes in decimal units, as hubs and disks report them. */
export function formatBytes(n: number): string {
  // Rates come here as fractions (607.2296884330965 B/s): whole bytes below a kB.
  if (Math.round(n) < 1000) return `${Math.round(n)} B`;
  const units = ["kB", "MB", "GB", "TB"];
  let v = n;
  let u = -1;
  while (v >= 999.5 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  return m < 60 ? `${m}m${String(rest).padStart(2, "0")}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

export function formatRate(bytes: number, seconds: number): string {
  return seconds > 0 ? `${formatBytes(bytes / seconds)}/s` : "-";
}

export interface ColumnOptions {
  /** Columns aligned to the right (sizes), by index. */
  right?: number[];
  /** What goes between column i and i + 1: two spaces unless given. */
  gaps?: string[];
  /** Before every row. */
  indent?: string;
}

/**
 * Rows of cells as lines whose columns start at the same offsets: each column as wide as its widest cell. Empty
 * cells at the end of a row and trailing spaces are dropped.
 */
export function alignColumns(rows: string[][], o: ColumnOptions = {}): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => {
    let last = row.length - 1;
    while (last > 0 && row[last] === "") last--;
    const cells = row.slice(0, last + 1).map((cell, i) => (o.right?.includes(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)));
    return ((o.indent ?? "") + cells.map((cell, i) => (i === 0 ? cell : (o.gaps?.[i - 1] ?? "  ") + cell)).join("")).trimEnd();
  });
}
