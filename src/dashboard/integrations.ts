import { api, describe, query } from "./api.js"
import { h, inNextFrame, notice, replaceChildren, setText, throttler } from "./dom.js"
import * as fmt from "./format.js"
import { addIntegrationPanel, adminButtons, describeKey, describeSchedule, describeWindow, keyForm } from "./integrationAdmin.js"
import { notificationsPanel } from "./notifications.js"
import { openStream } from "./sse.js"
import type { Integration, IntegrationSettings, Job, View } from "./types.js"

/**
 * One card per integration. The cards are built once; events on the live stream refresh the
 * status (one request, at most twice a second) and only the changed texts are written. Each card
 * also shows the integration's settings (`GET /api/sync/integrations`), with edit and delete for
 * the API's integrations and the stored key's set/remove (integrationAdmin.ts).
 */

interface Card {
  readonly root: HTMLElement
  readonly fields: Record<string, HTMLElement>
  readonly bar: HTMLProgressElement
  readonly jobLink: HTMLAnchorElement
  readonly scheduleButton: HTMLButtonElement
  readonly intervalInput: HTMLInputElement
  readonly message: ReturnType<typeof notice>
  readonly title: HTMLElement
  readonly adminActions: HTMLElement
  data: Integration
  settings: IntegrationSettings | undefined
}

const statusLabel: Record<Integration["status"], string> = {
  active: "active",
  stopped: "stopped",
  circuit_open: "circuit open",
  disabled: "disabled"
}

const field = (fields: Record<string, HTMLElement>, key: string, label: string) => {
  const value = h("dd", { "data-field": key })
  fields[key] = value
  return [h("dt", null, label), value]
}

const buildCard = (integration: Integration, refresh: () => void, pageMessage: ReturnType<typeof notice>): Card => {
  const fields: Record<string, HTMLElement> = {}
  const message = notice()
  const id = integration.integrationId
  const adminActions = adminButtons(() => card.settings, message.show, pageMessage.show, refresh)
  adminActions.hidden = true
  const typeSelect = h(
    "select",
    { "aria-label": `Sync type for ${integration.name}`, name: "type" },
    h("option", { value: "incremental_sync" }, "incremental"),
    h("option", { value: "full_sync" }, "full"),
    h("option", { value: "selective_sync" }, "selective")
  )
  const entitiesInput = h("input", {
    type: "text",
    name: "entities",
    placeholder: "entities: work_items,cycles",
    "aria-label": "Entities for a selective sync (comma-separated)",
    hidden: true
  })
  typeSelect.addEventListener("change", () => {
    entitiesInput.hidden = typeSelect.value !== "selective_sync"
  })
  const syncForm = h(
    "form",
    {
      class: "inline-form",
      onsubmit: (e: Event) => {
        e.preventDefault()
        const entities = entitiesInput.value.split(",").map((s) => s.trim()).filter((s) => s !== "")
        const body: Record<string, unknown> = { integrationId: id, type: typeSelect.value }
        if (typeSelect.value === "selective_sync" && entities.length > 0) body.options = { entities }
        api<{ jobId: string }>("POST", "/api/sync/jobs", body).then(
          (r) => {
            message.show(`Queued job ${r.jobId}.`)
            refresh()
          },
          (err: unknown) => message.show(describe(err), "error")
        )
      }
    },
    typeSelect,
    entitiesInput,
    h("button", { type: "submit", class: "primary", "data-action": "sync-now" }, "Sync now")
  )
  const scheduleButton = h("button", { type: "button", "data-action": "schedule" }, "")
  scheduleButton.addEventListener("click", () => {
    const starting = card.data.status !== "active"
    const call = starting
      ? api<{ message: string }>("POST", `/api/sync/integrations/${encodeURIComponent(id)}/start`, { scheduleImmediate: false })
      : api<{ message: string }>("POST", `/api/sync/integrations/${encodeURIComponent(id)}/stop`)
    call.then((r) => {
      message.show(r.message)
      refresh()
    }, (err: unknown) => message.show(describe(err), "error"))
  })
  const intervalInput = h("input", {
    type: "number",
    min: 30,
    max: 2592000,
    step: 1,
    name: "interval",
    "aria-label": `Sync interval of ${integration.name} in seconds`
  })
  const intervalForm = h(
    "form",
    {
      class: "inline-form",
      onsubmit: (e: Event) => {
        e.preventDefault()
        changeInterval(card, Number(intervalInput.value)).then(refresh)
      }
    },
    h("label", null, "Interval (s) ", intervalInput),
    h("button", { type: "submit" }, "Set")
  )
  const bar = h("progress", { max: 100, value: 0, "aria-label": `Current job of ${integration.name}` })
  const jobLink = h("a", { href: "#/jobs" }, "")
  const root = h(
    "article",
    { class: "card integration", "data-integration": id, "aria-labelledby": `int-${id}` },
    h(
      "header",
      null,
      h("h2", { id: `int-${id}` }, integration.name),
      h("span", { class: "badge", "data-field": "status" })
    ),
    h("p", { class: "muted small" }, `${id} · ${integration.type}`),
    h(
      "dl",
      { class: "facts" },
      field(fields, "lastSync", "Last sync"),
      field(fields, "nextSync", "Next sync"),
      field(fields, "syncInterval", "Interval"),
      field(fields, "successRate", "Success rate"),
      field(fields, "averageDuration", "Avg. duration"),
      field(fields, "circuit", "Circuit breaker"),
      field(fields, "rateLimit", "Rate-limit budget"),
      field(fields, "source", "Defined in"),
      field(fields, "schedule", "Schedule"),
      field(fields, "window", "Sync window"),
      field(fields, "apiKey", "API key")
    ),
    h("div", { class: "current-job" }, h("span", { class: "small" }, "Current job: ", jobLink), bar, h("span", { "data-field": "progress", class: "small" })),
    h("div", { class: "card-actions" }, syncForm, scheduleButton, intervalForm),
    h("div", { class: "card-actions card-admin" }, keyForm(id, message.show, refresh), adminActions),
    message.el
  )
  fields.status = root.querySelector("[data-field=status]")!
  fields.progress = root.querySelector("[data-field=progress]")!
  const title = root.querySelector<HTMLElement>(`#int-${CSS.escape(id)}`)!
  const card: Card = { root, fields, bar, jobLink, scheduleButton, intervalInput, message, title, adminActions, data: integration, settings: undefined }
  intervalInput.value = String(integration.syncInterval)
  return card
}

/** The API changes an interval through one of the integration's jobs (PUT /jobs/:id/interval). */
const changeInterval = async (card: Card, seconds: number) => {
  try {
    const id = card.data.integrationId
    let jobId = card.data.currentJob?.id
    if (jobId === undefined) {
      const latest = await api<{ jobs: ReadonlyArray<Job> }>("GET", `/api/sync/jobs${query({ integrationId: id, limit: 1 })}`)
      jobId = latest.jobs[0]?.id
    }
    if (jobId === undefined) {
      card.message.show("This integration has no job yet; run a sync first (the API changes an interval through a job).", "error")
      return
    }
    const r = await api<{ newInterval: number; nextRun: string }>("PUT", `/api/sync/jobs/${encodeURIComponent(jobId)}/interval`, {
      interval: seconds
    })
    card.message.show(`Interval set to ${fmt.interval(r.newInterval)}; next run ${fmt.dateTime(r.nextRun)}.`)
  } catch (e) {
    card.message.show(describe(e), "error")
  }
}

/** The settings part of a card; edit and delete only for the API's integrations. */
const updateSettings = (card: Card, s: IntegrationSettings) => {
  card.settings = s
  const f = card.fields
  setText(f.source!, s.source === "api" ? "api (editable here)" : "config file")
  setText(f.schedule!, `${describeSchedule(s)}${s.enabled ? "" : " (disabled)"}`)
  setText(f.window!, describeWindow(s))
  setText(f.apiKey!, describeKey(s))
  card.adminActions.hidden = s.source !== "api"
}

const updateCard = (card: Card, i: Integration) => {
  card.data = i
  const f = card.fields
  setText(card.title, i.name)
  setText(f.status!, statusLabel[i.status])
  f.status!.className = `badge status-${i.status}`
  setText(f.lastSync!, i.lastSync ? `${fmt.dateTime(i.lastSync)} (${fmt.relative(i.lastSync)})` : "never")
  setText(f.nextSync!, i.nextSync ? `${fmt.dateTime(i.nextSync)} (${fmt.relative(i.nextSync)})` : "not scheduled")
  setText(f.syncInterval!, `${fmt.interval(i.syncInterval)}${i.fullSyncInterval ? `, full every ${fmt.interval(i.fullSyncInterval)}` : ""}`)
  setText(f.successRate!, `${fmt.percent(i.stats.successRate)} of ${i.stats.totalJobs} jobs`)
  setText(f.averageDuration!, fmt.duration(i.stats.averageDuration))
  const cb = i.circuitBreaker
  setText(
    f.circuit!,
    cb.state === "closed"
      ? `closed${cb.consecutiveFailures > 0 ? `, ${cb.consecutiveFailures} failure(s) in a row` : ""}`
      : `${cb.state.replace("_", "-")}${cb.nextProbeAt ? `, probe ${fmt.relative(cb.nextProbeAt)}` : ""}${cb.reason ? `: ${cb.reason}` : ""}`
  )
  const rl = i.rateLimit
  setText(
    f.rateLimit!,
    rl === null || rl.requestsPerMinute === 0
      ? "no limit"
      : `${rl.remaining} of ${rl.requestsPerMinute}/min left${rl.blockedUntil ? `, blocked until ${fmt.dateTime(rl.blockedUntil)}` : ""}`
  )
  const job = i.currentJob
  if (job === null) {
    setText(card.jobLink, "none")
    card.jobLink.setAttribute("href", "#/jobs")
    card.bar.value = 0
    setText(f.progress!, "")
  } else {
    setText(card.jobLink, `${fmt.shortId(job.id)} (${job.status})`)
    card.jobLink.setAttribute("href", `#/jobs/${encodeURIComponent(job.id)}`)
    card.bar.value = job.progress
    setText(f.progress!, `${job.progress}%`)
  }
  setText(card.scheduleButton, i.status === "active" ? "Stop schedule" : "Start schedule")
  card.scheduleButton.disabled = i.status === "disabled"
  if (document.activeElement !== card.intervalInput) card.intervalInput.value = String(i.syncInterval)
}

export const integrationsView: View = (root) => {
  const message = notice()
  const list = h("div", { class: "cards", "aria-busy": "true" })
  const notifications = notificationsPanel()
  const cards = new Map<string, Card>()
  let closed = false
  const throttle = throttler(500)
  // Delivery state moves with the log too, but slower matters less: at most every 5 s.
  const slowThrottle = throttler(5000)
  const refresh = () => {
    throttle.run("status", () => void load())
    slowThrottle.run("notifications", () => void notifications.load())
  }
  replaceChildren(root, h("h1", { tabindex: -1 }, "Integrations"), message.el, addIntegrationPanel(refresh), list, notifications.root)
  const emptyNote = h("p", { class: "muted" }, "No integration is registered; add one above or in the config file (see the README).")

  const load = () =>
    Promise.all([
      api<{ integrations: ReadonlyArray<Integration> }>("GET", "/api/sync/integrations/status"),
      api<{ integrations: ReadonlyArray<IntegrationSettings> }>("GET", "/api/sync/integrations")
    ]).then(([r, settings]) => {
      if (closed) return
      list.removeAttribute("aria-busy")
      // A removed integration's card goes.
      const present = new Set(r.integrations.map((i) => i.integrationId))
      for (const [id, card] of cards) {
        if (!present.has(id)) {
          card.root.remove()
          cards.delete(id)
        }
      }
      if (r.integrations.length === 0) list.appendChild(emptyNote)
      else emptyNote.remove()
      const settingsById = new Map(settings.integrations.map((s) => [s.id, s]))
      for (const integration of r.integrations) {
        let card = cards.get(integration.integrationId)
        if (card === undefined) {
          card = buildCard(integration, refresh, message)
          cards.set(integration.integrationId, card)
          list.appendChild(card.root)
        }
        const c = card
        const s = settingsById.get(integration.integrationId)
        inNextFrame(`int-${integration.integrationId}`, () => {
          updateCard(c, integration)
          if (s !== undefined) updateSettings(c, s)
        })
      }
    }, (e: unknown) => message.show(describe(e), "error"))

  void notifications.load()
  load().then(() => {
    if (!closed) closeStream = openStream("/api/sync/stream", {}, { onEvent: refresh })
  })
  let closeStream = () => {}
  // Relative times ("in 4 min") age without any request.
  const clock = window.setInterval(() => {
    for (const card of cards.values()) updateCard(card, card.data)
  }, 15_000)
  return () => {
    closed = true
    closeStream()
    throttle.cancel()
    slowThrottle.cancel()
    clearInterval(clock)
  }
}
