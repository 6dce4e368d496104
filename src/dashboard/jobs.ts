import { jobActions } from "./actions.js"
import { api, describe, query } from "./api.js"
import { h, inNextFrame, notice, replaceChildren, setText, throttler } from "./dom.js"
import * as fmt from "./format.js"
import { jobIdOf, JOB_EVENT_TYPES, openStream, type StreamEvent } from "./sse.js"
import { type Integration, type Job, JOB_STATUSES, JOB_TYPES, type View } from "./types.js"

/**
 * The jobs table: filters and page in the URL (#/jobs?status=&integrationId=&type=&limit=&offset=),
 * newest first. Live without polling: each job event on the global stream marks its row; a
 * marked row is re-read (GET /jobs/:id) at most every 400 ms, and the cells that changed are
 * written in the next animation frame. A new job (JobQueued) on the first page re-reads the page.
 */

const ROW_REFRESH_MS = 400
const PAGE_SIZES = [20, 50, 100, 500]

interface Row {
  readonly tr: HTMLTableRowElement
  readonly cells: Record<string, HTMLElement>
  readonly bar: HTMLProgressElement
  job: Job
}

const COLUMNS: ReadonlyArray<readonly [key: string, label: string, cls?: string]> = [
  ["id", "Job"],
  ["integration", "Integration", "opt"],
  ["type", "Type"],
  ["status", "Status"],
  ["progress", "Progress"],
  ["stage", "Stage", "opt"],
  ["counters", "Processed · created · updated · deleted · errors", "opt"],
  ["eta", "ETA / duration", "opt"],
  ["created", "Created", "opt"],
  ["actions", "Actions"]
]

const select = (name: string, label: string, value: string, options: ReadonlyArray<readonly [string, string]>) =>
  h(
    "label",
    null,
    `${label} `,
    h("select", { name }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)))
  )

export const jobsView: View = (root, params) => {
  const status = params.get("status") ?? ""
  const integrationId = params.get("integrationId") ?? ""
  const type = params.get("type") ?? ""
  const limit = PAGE_SIZES.includes(Number(params.get("limit"))) ? Number(params.get("limit")) : 50
  const offset = Math.max(0, Number(params.get("offset")) || 0)

  const message = notice()
  const integrationFilter = select("integrationId", "Integration", integrationId, [["", "all"]])
  const filters = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter jobs" },
    select("status", "Status", status, [
      ["", "all"],
      ["queued,running,stopping", "active"],
      ...JOB_STATUSES.map((s) => [s, s] as const)
    ]),
    integrationFilter,
    select("type", "Type", type, [["", "all"], ...JOB_TYPES.map((t) => [t, fmt.jobType(t)] as const)]),
    select("limit", "Per page", String(limit), PAGE_SIZES.map((n) => [String(n), String(n)] as const))
  )
  filters.addEventListener("change", () => {
    const form = new FormData(filters)
    const next = new URLSearchParams()
    for (const key of ["status", "integrationId", "type", "limit"]) {
      const value = String(form.get(key) ?? "")
      if (value !== "") next.set(key, value)
    }
    location.hash = `#/jobs?${next.toString()}`
  })

  const tbody = h("tbody")
  const table = h(
    "table",
    { class: "jobs" },
    h("caption", { class: "visually-hidden" }, "Sync jobs, newest first"),
    h("thead", null, h("tr", null, COLUMNS.map(([key, label, cls]) => h("th", { scope: "col", class: cls ?? null, "data-col": key }, label)))),
    tbody
  )
  const pager = h("nav", { class: "pager", "aria-label": "Pages" })
  replaceChildren(
    root,
    h("h1", { tabindex: -1 }, "Jobs"),
    filters,
    message.el,
    h("div", { class: "table-wrap" }, table),
    pager
  )

  const rows = new Map<string, Row>()
  let closed = false
  let total = 0

  const buildRow = (job: Job): Row => {
    const cells: Record<string, HTMLElement> = {}
    const tr = h("tr", { "data-job": job.id })
    for (const [key, , cls] of COLUMNS) {
      const td = h("td", { class: cls ?? null, "data-col": key })
      cells[key] = td
      tr.appendChild(td)
    }
    cells.id!.appendChild(h("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, title: job.id }, fmt.shortId(job.id)))
    setText(cells.integration!, job.integrationId)
    setText(cells.type!, fmt.jobType(job.type))
    setText(cells.created!, fmt.dateTime(job.createdAt))
    const bar = h("progress", { max: 100, value: job.progress, "aria-label": `Progress of job ${job.id}` })
    const pct = h("span", { class: "pct" })
    cells.progress!.append(bar, pct)
    const row: Row = { tr, cells, bar, job }
    paintRow(row, job, true)
    return row
  }

  /** Writes only what changed since the row's last paint. */
  const paintRow = (row: Row, job: Job, first = false) => {
    const before = row.job
    row.job = job
    const c = row.cells
    if (first || before.status !== job.status) {
      replaceChildren(c.status!, h("span", { class: `badge status-${job.status}` }, job.status))
      replaceChildren(c.actions!, jobActions(job, message.show, () => markJob(job.id)))
      row.tr.dataset.status = job.status
    }
    if (first || before.progress !== job.progress) {
      row.bar.value = job.progress
      setText(c.progress!.querySelector(".pct")!, `${job.progress}%`)
    }
    setText(c.stage!, job.status === "running" || job.status === "stopping" ? fmt.stage(job.stage) : "")
    const s = job.stats
    setText(c.counters!, `${s.processed} · ${s.created} · ${s.updated} · ${s.deleted} · ${s.errors}`)
    setText(
      c.eta!,
      job.duration !== undefined
        ? fmt.duration(job.duration)
        : job.estimatedCompletion
        ? `ETA ${fmt.relative(job.estimatedCompletion)}`
        : ""
    )
    if (job.error && c.status!.title !== job.error) c.status!.title = job.error
  }

  const loadPage = () =>
    api<{ jobs: ReadonlyArray<Job>; total: number }>(
      "GET",
      `/api/sync/jobs${query({ status, integrationId, type, limit, offset })}`
    ).then((r) => {
      if (closed) return
      const seen = new Set<string>()
      const ordered: Array<HTMLTableRowElement> = []
      for (const job of r.jobs) {
        seen.add(job.id)
        let row = rows.get(job.id)
        if (row === undefined) {
          row = buildRow(job)
          rows.set(job.id, row)
        } else {
          paintRow(row, job)
        }
        ordered.push(row.tr)
      }
      for (const [id, row] of rows) {
        if (!seen.has(id)) {
          row.tr.remove()
          rows.delete(id)
        }
      }
      // Re-attach in order (moves only the rows that are out of place).
      let cursor: ChildNode | null = tbody.firstChild
      for (const tr of ordered) {
        if (cursor === tr) cursor = tr.nextSibling
        else tbody.insertBefore(tr, cursor)
      }
      if (r.jobs.length === 0) {
        replaceChildren(tbody, h("tr", null, h("td", { colspan: COLUMNS.length, class: "muted" }, "No jobs match these filters.")))
      } else {
        tbody.querySelector("tr:not([data-job])")?.remove()
      }
      total = r.total
      paintPager(r.total, r.jobs.length)
      if (table.dataset.loaded === undefined) {
        table.dataset.loaded = "true"
        // For the render measurement (bench/dashboard-render.ts): the first page is in the DOM.
        performance.mark("synclog:jobs-rendered")
      }
    }, (e: unknown) => message.show(describe(e), "error"))

  const paintPager = (total: number, count: number) => {
    const link = (label: string, to: number, rel: string) => {
      const next = new URLSearchParams(params)
      if (to > 0) next.set("offset", String(to))
      else next.delete("offset")
      return h("a", { href: `#/jobs?${next.toString()}`, rel, class: "button" }, label)
    }
    replaceChildren(
      pager,
      offset > 0 ? link("← Newer", Math.max(0, offset - limit), "prev") : null,
      h("span", { class: "muted", "data-field": "range" }, total === 0 ? "0 jobs" : `${offset + 1}–${offset + count} of ${total}`),
      offset + count < total ? link("Older →", offset + limit, "next") : null
    )
  }

  const rowRefresh = throttler(ROW_REFRESH_MS)
  const markJob = (jobId: string) =>
    rowRefresh.run(jobId, () => {
      if (closed || !rows.has(jobId)) return
      api<Job>("GET", `/api/sync/jobs/${encodeURIComponent(jobId)}`).then((job) => {
        const row = rows.get(jobId)
        if (row !== undefined && !closed) inNextFrame(`job-${jobId}`, () => paintRow(row, job))
      }, (e: unknown) => {
        if ((e as { status?: number }).status === 404) pageRefresh.run("page", () => void loadPage())
      })
    })
  const pageRefresh = throttler(500)

  const onEvent = (event: StreamEvent) => {
    const jobId = jobIdOf(event)
    if (jobId === undefined) return
    if (rows.has(jobId)) {
      if (event.type === "JobDeleted") pageRefresh.run("page", () => void loadPage())
      else markJob(jobId)
    } else if (event.type === "JobQueued" && offset === 0) {
      addNewJob(jobId)
    }
  }

  /** A job queued while the first page is shown goes on top (if the filters take it), one row. */
  const addNewJob = (jobId: string) =>
    api<Job>("GET", `/api/sync/jobs/${encodeURIComponent(jobId)}`).then((job) => {
      const statuses = status === "" ? null : status.split(",").map((s) => (s === "pending" ? "queued" : s))
      const matches = (statuses === null || statuses.includes(job.status)) &&
        (integrationId === "" || job.integrationId === integrationId) &&
        (type === "" || job.type === type || job.type === `${type}_sync`)
      if (closed || !matches || rows.has(jobId)) return
      inNextFrame(`new-${jobId}`, () => {
        if (rows.has(jobId)) return
        const row = buildRow(job)
        rows.set(jobId, row)
        tbody.querySelector("tr:not([data-job])")?.remove()
        tbody.insertBefore(row.tr, tbody.firstChild)
        if (rows.size > limit) {
          const last = tbody.lastElementChild as HTMLTableRowElement | null
          if (last?.dataset.job !== undefined) {
            rows.delete(last.dataset.job)
            last.remove()
          }
        }
        total++
        paintPager(total, rows.size)
      })
    }, () => {})

  let closeStream = () => {}
  loadPage().then(() => {
    if (closed) return
    closeStream = openStream(
      "/api/sync/stream",
      // Only job events: the server filters, so integration events never reach this page.
      { types: JOB_EVENT_TYPES.join(","), ...(integrationId === "" ? {} : { integrationId }) },
      { onEvent },
      JOB_EVENT_TYPES
    )
  })
  // The integration filter's choices.
  api<{ integrations: ReadonlyArray<Integration> }>("GET", "/api/sync/integrations/status").then((r) => {
    const selectEl = integrationFilter.querySelector("select")!
    for (const i of r.integrations) {
      selectEl.appendChild(h("option", { value: i.integrationId, selected: i.integrationId === integrationId }, i.name))
    }
  }, () => {})

  return () => {
    closed = true
    closeStream()
    rowRefresh.cancel()
    pageRefresh.cancel()
  }
}
