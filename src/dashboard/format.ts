/** How values read on the page. Times are shown in the browser's zone, with the ISO value as a tooltip. */

const pad = (n: number) => String(n).padStart(2, "0")

export const dateTime = (iso: string | null | undefined): string => {
  if (!iso) return "—"
  const d = new Date(iso)
  if (Number.isNaN(d.getTime())) return iso
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

export const duration = (ms: number | null | undefined): string => {
  if (ms === null || ms === undefined) return "—"
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`
  const m = Math.floor(s / 60)
  const rest = (n: number, unit: string) => (n > 0 ? ` ${n} ${unit}` : "")
  if (m < 60) return `${m} min${rest(Math.round(s % 60), "s")}`
  const hours = Math.floor(m / 60)
  return hours < 48 ? `${hours} h${rest(m % 60, "min")}` : `${Math.floor(hours / 24)} d${rest(hours % 24, "h")}`
}

/** "in 4 min", "12 s ago". */
export const relative = (iso: string | null | undefined, now = Date.now()): string => {
  if (!iso) return "—"
  const t = new Date(iso).getTime()
  if (Number.isNaN(t)) return iso
  const delta = t - now
  const abs = Math.abs(delta)
  if (abs < 1000) return "now"
  // Seconds matter only in the first minute.
  const text = abs < 60_000 ? `${Math.round(abs / 1000)} s` : duration(abs).replace(/ \d+ s$/, "")
  return delta >= 0 ? `in ${text}` : `${text} ago`
}

export const interval = (seconds: number): string => duration(seconds * 1000)

export const percent = (ratio: number | null | undefined): string =>
  ratio === null || ratio === undefined ? "—" : `${Math.round(ratio * 1000) / 10}%`

export const stage = (value: string | undefined): string => (value ? value.replace(/^syncing_/, "").replace(/_/g, " ") : "—")

export const jobType = (value: string): string => value.replace(/_sync$/, "")

/** Job ids without their common prefix (`sync-job-`); other long ids cut to their start. */
export const shortId = (id: string): string => {
  const rest = id.replace(/^sync-job-/, "")
  return rest.length > 18 ? `${rest.slice(0, 10)}…` : rest
}
