/** Human output: aligned tables, times, durations and (on a terminal only) colour. */

/** Colour only on a terminal, and never with NO_COLOR set (https://no-color.org). */
export const useColour = (stream: { readonly isTTY?: boolean } = process.stdout) =>
  stream.isTTY === true && (process.env.NO_COLOR ?? "") === ""

const sgr = (code: string) => (text: string) => useColour() ? `\x1b[${code}m${text}\x1b[0m` : text
const bold = sgr("1")
const green = sgr("32")
const red = sgr("31")
const yellow = sgr("33")
const cyan = sgr("36")

/** A job or integration status, coloured by what it means. */
export const paintStatus = (status: string) => {
  switch (status) {
    case "completed":
    case "active":
    case "closed":
      return green(status)
    case "failed":
    case "circuit_open":
    case "open":
      return red(status)
    case "running":
    case "queued":
      return cyan(status)
    default:
      return yellow(status)
  }
}

const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g
export const stripAnsi = (text: string) => text.replace(ANSI, "")
const visibleLength = (text: string) => stripAnsi(text).length

/** Columns padded to their widest cell; numbers (cells that look numeric) right-aligned. */
export const table = (headers: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ""))))
  const numeric = headers.map((_, i) =>
    rows.some((r) => /^-?[\d.,]+%?$/.test(r[i] ?? "")) && rows.every((r) => /^-?[\d.,]+%?$|^-$/.test(r[i] ?? ""))
  )
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, i) => {
      const pad = " ".repeat(widths[i]! - visibleLength(cell))
      return numeric[i] ? pad + cell : cell + pad
    }).join("  ").trimEnd()
  return [bold(line(headers)), ...rows.map(line)].join("\n")
}

/** `key  value` lines with the keys aligned. */
export const fields = (pairs: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(...pairs.map(([k]) => k.length))
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n")
}

const two = (n: number) => String(n).padStart(2, "0")

/** Local wall-clock time of day, `12:03:04`. */
export const clock = (iso: string) => {
  const d = new Date(iso)
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`
}

/** Local date and time, `2026-11-30 12:03:04`; `-` for none. */
export const dateTime = (iso: string | null | undefined) => {
  if (iso === null || iso === undefined) return "-"
  const d = new Date(iso)
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${clock(iso)}`
}

/** `850 ms`, `4.2 s`, `3 m 05 s`, `2 h 10 m`. */
export const duration = (ms: number | null | undefined) => {
  if (ms === null || ms === undefined) return "-"
  if (ms < 1000) return `${ms} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`
  const s = Math.round(ms / 1000)
  if (s < 3600) return `${Math.floor(s / 60)} m ${two(s % 60)} s`
  return `${Math.floor(s / 3600)} h ${two(Math.floor((s % 3600) / 60))} m`
}

/** Seconds as the largest whole unit: `300 s` is `5 m`. */
export const interval = (seconds: number | null) => {
  if (seconds === null) return "-"
  if (seconds % 86400 === 0) return `${seconds / 86400} d`
  if (seconds % 3600 === 0) return `${seconds / 3600} h`
  if (seconds % 60 === 0) return `${seconds / 60} m`
  return `${seconds} s`
}

export const json = (value: unknown) => JSON.stringify(value, null, 2)
