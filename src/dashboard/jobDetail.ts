import { jobActions } from "./actions.js"
import { api, describe, query } from "./api.js"
import { h, inNextFrame, notice, replaceChildren, setText, throttler } from "./dom.js"
import * as fmt from "./format.js"
import { openStream, type StreamEvent } from "./sse.js"
import { type Job, type JobDetail, type LogLine, TERMINAL, type View } from "./types.js"

/**
 * One job: header facts, counters, the timeline of its events (GET /jobs/:id/events, then the
 * job's own stream from the last position), logs paged 100 at a time with a live tail, error,
 * attempt and options. The job stream's `progress` messages move the bar and counters; a log
 * tail re-reads only the lines after the ones shown, at most once a second.
 */

const LOG_PAGE = 100

interface EventEntry {
  readonly position: number
  readonly version: number
  readonly type: string
  readonly recordedAt: string
  readonly data: unknown
}

const COUNTERS = ["processed", "created", "updated", "deleted", "errors"] as const

/** The interesting part of an event's payload, in a line. */
const summary = (type: string, data: unknown): string => {
  const d = (data ?? {}) as Record<string, unknown>
  const parts: Array<string> = []
  if (type === "BatchCommitted") {
    const delta = d.deltas as Record<string, number> | undefined
    if (delta) parts.push(COUNTERS.map((k) => `${k} +${delta[k] ?? 0}`).join(", "))
  }
  for (const key of ["stage", "reason", "message", "error", "graceful", "trigger", "progress"]) {
    if (d[key] !== undefined && typeof d[key] !== "object") parts.push(`${key}: ${String(d[key])}`)
  }
  return parts.join(" · ")
}

export const jobDetailView: View = (root, _params, jobId = "") => {
  const message = notice()
  const title = h("h1", { tabindex: -1 }, "Job ", h("code", null, jobId))
  const status = h("span", { class: "badge" })
  const actions = h("div", { class: "detail-actions" })
  const bar = h("progress", { max: 100, value: 0, "aria-label": "Progress" })
  const pct = h("span", { "data-field": "progress" })
  const facts: Record<string, HTMLElement> = {}
  const fact = (key: string, label: string) => {
    facts[key] = h("dd", { "data-field": key })
    return [h("dt", null, label), facts[key]!]
  }
  const counterCells: Record<string, HTMLElement> = {}
  const resultCells: Record<string, HTMLElement> = {}
  const counters = h(
    "table",
    { class: "counters" },
    h("caption", null, "Counters"),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, ""), COUNTERS.map((k) => h("th", { scope: "col" }, k)))),
    h(
      "tbody",
      null,
      h("tr", null, h("th", { scope: "row" }, "so far"), COUNTERS.map((k) => (counterCells[k] = h("td", { "data-counter": k })))),
      h("tr", null, h("th", { scope: "row" }, "result"), COUNTERS.map((k) => (resultCells[k] = h("td"))))
    )
  )
  const errorBox = h("div", { class: "error-box", role: "alert", hidden: true })
  const optionsBox = h("pre", { class: "json" })
  const timeline = h("ol", { class: "timeline", "aria-label": "Events" })
  const logsList = h("ol", { class: "logs", "aria-label": "Log lines" })
  const logsPager = h("nav", { class: "pager", "aria-label": "Log pages" })
  const tail = h("input", { type: "checkbox", id: "live-tail", checked: true })

  replaceChildren(
    root,
    h("p", null, h("a", { href: "#/jobs" }, "← Jobs")),
    title,
    message.el,
    h("div", { class: "detail-head" }, status, h("div", { class: "bar-line" }, bar, pct), actions),
    errorBox,
    h(
      "dl",
      { class: "facts" },
      fact("integration", "Integration"),
      fact("type", "Type"),
      fact("stage", "Stage"),
      fact("eta", "ETA"),
      fact("trigger", "Trigger"),
      fact("attempt", "Attempt"),
      fact("created", "Created"),
      fact("started", "Started"),
      fact("completed", "Ended"),
      fact("duration", "Duration")
    ),
    h("div", { class: "table-wrap" }, counters),
    h("details", null, h("summary", null, "Options"), optionsBox),
    h(
      "div",
      { class: "columns" },
      h("section", { "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, "Timeline"), timeline),
      h(
        "section",
        { "aria-labelledby": "logs-title" },
        h("h2", { id: "logs-title" }, "Logs"),
        h("p", { class: "small" }, tail, " ", h("label", { for: "live-tail" }, "Live tail (follow new lines)")),
        logsPager,
        logsList
      )
    )
  )

  let closed = false
  let job: Job | null = null
  let lastStatus = ""
  let lastPosition = 0
  let logTotal = 0
  let logOffset = 0

  const paint = (j: Job) => {
    job = j
    setText(status, j.status)
    status.className = `badge status-${j.status}`
    status.dataset.status = j.status
    if (lastStatus !== j.status) {
      lastStatus = j.status
      replaceChildren(actions, jobActions(j, message.show, () => refreshJob.run("job", () => void loadJob())))
    }
    bar.value = j.progress
    setText(pct, `${j.progress}%`)
    setText(facts.integration!, j.integrationId)
    setText(facts.type!, fmt.jobType(j.type))
    setText(facts.stage!, j.status === "running" || j.status === "stopping" ? fmt.stage(j.stage) : "—")
    setText(facts.eta!, j.estimatedCompletion && !TERMINAL.has(j.status) ? `${fmt.dateTime(j.estimatedCompletion)} (${fmt.relative(j.estimatedCompletion)})` : "—")
    setText(facts.trigger!, j.trigger)
    setText(facts.attempt!, String(j.attempt))
    setText(facts.created!, fmt.dateTime(j.createdAt))
    setText(facts.started!, fmt.dateTime(j.startedAt))
    setText(facts.completed!, fmt.dateTime(j.completedAt))
    setText(facts.duration!, fmt.duration(j.duration))
    for (const k of COUNTERS) {
      setText(counterCells[k]!, String(j.stats[k]))
      setText(resultCells[k]!, j.result ? String(j.result[k]) : "—")
    }
    errorBox.hidden = j.error === undefined
    setText(errorBox, j.error ? `Error: ${j.error}` : "")
    setText(optionsBox, JSON.stringify(j.options, null, 2))
  }

  const addEvent = (e: EventEntry) => {
    if (e.position <= lastPosition) return
    lastPosition = e.position
    timeline.appendChild(
      h(
        "li",
        { "data-type": e.type },
        h("time", { datetime: e.recordedAt }, fmt.dateTime(e.recordedAt)),
        " ",
        h("strong", null, e.type),
        " ",
        h("span", { class: "muted small" }, summary(e.type, e.data))
      )
    )
  }

  const logLine = (line: LogLine) =>
    h("li", { class: `log-${line.level}` }, h("time", { datetime: line.timestamp }, fmt.dateTime(line.timestamp)), ` ${line.level} `, line.message)

  const loadLogs = (offset: number) =>
    api<{ logs: ReadonlyArray<LogLine>; total: number }>(
      "GET",
      `/api/sync/jobs/${encodeURIComponent(jobId)}/logs${query({ limit: LOG_PAGE, offset })}`
    ).then((r) => {
      if (closed) return
      logOffset = offset
      logTotal = r.total
      replaceChildren(logsList, r.logs.map(logLine))
      paintLogPager(r.logs.length)
    })

  /** Appends the lines after the shown ones while the last page is shown and the tail is on. */
  const tailLogs = () => {
    if (!tail.checked || closed) return
    const shownEnd = logOffset + logsList.childElementCount
    if (shownEnd < logTotal && logsList.childElementCount >= LOG_PAGE) return
    api<{ logs: ReadonlyArray<LogLine>; total: number }>(
      "GET",
      `/api/sync/jobs/${encodeURIComponent(jobId)}/logs${query({ limit: LOG_PAGE, offset: shownEnd })}`
    ).then((r) => {
      if (closed) return
      logTotal = r.total
      inNextFrame("logs", () => {
        for (const line of r.logs) logsList.appendChild(logLine(line))
        // Keep one page in view: the oldest shown lines leave as new ones arrive.
        while (logsList.childElementCount > LOG_PAGE) {
          logsList.firstElementChild!.remove()
          logOffset++
        }
        paintLogPager(logsList.childElementCount)
        logsList.lastElementChild?.scrollIntoView({ block: "nearest" })
      })
    }, () => {})
  }

  const paintLogPager = (count: number) => {
    const button = (label: string, to: number) =>
      h("button", { type: "button", class: "small", onclick: () => void loadLogs(to) }, label)
    replaceChildren(
      logsPager,
      logOffset > 0 ? button("← Earlier", Math.max(0, logOffset - LOG_PAGE)) : null,
      h("span", { class: "muted small" }, logTotal === 0 ? "no lines yet" : `lines ${logOffset + 1}–${logOffset + count} of ${logTotal}`),
      logOffset + count < logTotal ? button("Later →", logOffset + LOG_PAGE) : null
    )
  }

  const loadJob = () =>
    api<JobDetail>("GET", `/api/sync/jobs/${encodeURIComponent(jobId)}`).then((j) => {
      if (!closed) inNextFrame("detail", () => paint(j))
    }, (e: unknown) => message.show(describe(e), "error"))

  const refreshJob = throttler(300)
  const logTail = throttler(1000)
  let closeStream = () => {}

  const start = async () => {
    try {
      const first = await api<JobDetail>("GET", `/api/sync/jobs/${encodeURIComponent(jobId)}`)
      if (closed) return
      paint(first)
      const events = await api<{ events: ReadonlyArray<EventEntry> }>("GET", `/api/sync/jobs/${encodeURIComponent(jobId)}/events`)
      if (closed) return
      for (const e of events.events) addEvent(e)
      const logs = await api<{ total: number }>("GET", `/api/sync/jobs/${encodeURIComponent(jobId)}/logs?limit=1`)
      await loadLogs(Math.max(0, logs.total - LOG_PAGE))
      if (closed) return
      // The job's own stream from the last event shown: new events, then progress messages.
      closeStream = openStream(
        `/api/sync/jobs/${encodeURIComponent(jobId)}/stream`,
        { after: String(lastPosition) },
        {
          onEvent: (e: StreamEvent) => {
            inNextFrame(`event-${e.position}`, () => addEvent(e))
            refreshJob.run("job", () => void loadJob())
            logTail.run("logs", tailLogs)
          },
          onProgress: (p) => {
            if (job === null) return
            const merged = { ...job, ...p } as Job
            inNextFrame("detail", () => paint(merged))
          },
          isFinished: () => job !== null && TERMINAL.has(job.status)
        }
      )
    } catch (e) {
      message.show(describe(e), "error")
    }
  }
  void start()

  return () => {
    closed = true
    closeStream()
    refreshJob.cancel()
    logTail.cancel()
  }
}
