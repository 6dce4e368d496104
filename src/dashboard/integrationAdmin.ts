import { api, describe } from "./api.js"
import { h } from "./dom.js"
import * as fmt from "./format.js"
import type { IntegrationSettings, Schedule } from "./types.js"

/**
 * Integrations over the API from the page: the "Add integration" form, edit and delete of the
 * API's integrations, and a stored key's set/remove. A key typed here goes to the server once
 * and is cleared from the input whatever the answer; the page only ever shows its fingerprint.
 */

type Report = (text: string, kind: "ok" | "error") => void

const path = (id: string) => `/api/sync/integrations/${encodeURIComponent(id)}`

export const describeSchedule = (s: IntegrationSettings): string => {
  const schedule = s.schedule ?? (s.syncInterval === null ? undefined : { every: s.syncInterval })
  if (schedule === undefined) return "—"
  return "every" in schedule ? `every ${fmt.interval(schedule.every)}` : `cron ${schedule.cron} (${schedule.timezone})`
}

export const describeWindow = (s: IntegrationSettings): string =>
  s.syncWindow === undefined ? "any time" : `${s.syncWindow.start}–${s.syncWindow.end} (${s.syncWindow.timezone})`

/** Where the key comes from, never the key. */
export const describeKey = (s: IntegrationSettings): string =>
  [s.apiKeyEnv !== null ? `$${s.apiKeyEnv}` : null, s.credential !== null ? `stored, fingerprint ${s.credential.fingerprint}` : null]
    .filter((p) => p !== null)
    .join("; ") || "none"

/** The common fields of an integration, labelled; `read` gives the request body or what is wrong. */
const integrationFields = (prefix: string, initial: IntegrationSettings | null) => {
  const input = (name: string, props: Record<string, string | number | boolean>) =>
    h("input", { id: `${prefix}-${name}`, name, ...props })
  const row = (name: string, label: string, control: HTMLElement) =>
    h("div", { class: "field" }, h("label", { for: `${prefix}-${name}` }, label), control)
  const schedule: Schedule = initial?.schedule ?? { every: initial?.syncInterval ?? 3600 }
  const id = input("id", { type: "text", required: true, autocomplete: "off" })
  const name = input("name", { type: "text", required: true, value: initial?.name ?? "" })
  const baseUrl = input("baseUrl", { type: "url", required: true, placeholder: "https://api.plane.so", value: initial?.baseUrl ?? "" })
  const workspaceSlug = input("workspaceSlug", { type: "text", required: true, value: initial?.workspaceSlug ?? "" })
  const kind = h(
    "select",
    { id: `${prefix}-scheduleKind`, name: "scheduleKind" },
    h("option", { value: "every" }, "every n seconds"),
    h("option", { value: "cron" }, "cron expression")
  )
  kind.value = "every" in schedule ? "every" : "cron"
  const every = input("every", { type: "number", min: 30, max: 2592000, step: 1, value: "every" in schedule ? schedule.every : 3600 })
  const cron = input("cron", { type: "text", placeholder: "0 */2 * * *", value: "cron" in schedule ? schedule.cron : "" })
  const timezone = input("timezone", { type: "text", placeholder: "UTC", value: "cron" in schedule ? schedule.timezone : "UTC" })
  const enabled = input("enabled", { type: "checkbox", checked: initial?.enabled ?? true })
  const advanced = h("textarea", {
    id: `${prefix}-advanced`,
    name: "advanced",
    rows: 3,
    spellcheck: "false",
    placeholder: '{"syncWindow": {"start": "22:00", "end": "06:00", "timezone": "UTC"}, "apiKeyEnv": "PLANE_KEY_B"}'
  })
  const everyRow = row("every", "Interval (s)", every)
  const cronRows = [row("cron", "Cron", cron), row("timezone", "Time zone", timezone)]
  const showKind = () => {
    everyRow.hidden = kind.value !== "every"
    for (const r of cronRows) r.hidden = kind.value !== "cron"
  }
  kind.addEventListener("change", showKind)
  showKind()

  const elements = [
    initial === null ? row("id", "Id", id) : null,
    row("name", "Name", name),
    row("baseUrl", "Base URL", baseUrl),
    row("workspaceSlug", "Workspace slug", workspaceSlug),
    row("scheduleKind", "Schedule", kind),
    everyRow,
    ...cronRows,
    h("div", { class: "field check" }, enabled, h("label", { for: `${prefix}-enabled` }, "Enabled (on the schedule)")),
    h(
      "div",
      { class: "field wide" },
      h("label", { for: `${prefix}-advanced` }, "Advanced (JSON object: any other key of the config file, e.g. syncWindow, selection)"),
      advanced
    )
  ]

  const read = (): { readonly body: Record<string, unknown> } | { readonly problem: string } => {
    let extra: unknown = {}
    if (advanced.value.trim() !== "") {
      try {
        extra = JSON.parse(advanced.value)
      } catch {
        return { problem: "Advanced settings are not valid JSON; write one JSON object, or leave them empty." }
      }
      if (typeof extra !== "object" || extra === null || Array.isArray(extra)) return { problem: "Advanced settings must be one JSON object." }
    }
    const chosen: Schedule = kind.value === "every"
      ? { every: Number(every.value) }
      : { cron: cron.value.trim(), timezone: timezone.value.trim() || "UTC" }
    const common: Record<string, unknown> = {
      name: name.value.trim(),
      baseUrl: baseUrl.value.trim(),
      workspaceSlug: workspaceSlug.value.trim(),
      enabled: enabled.checked
    }
    if (initial === null) {
      return { body: { id: id.value.trim(), type: "plane", ...common, schedule: chosen, ...(extra as object) } }
    }
    // A change sends only what changed; a new schedule also unsets the older `syncInterval` spelling.
    const body: Record<string, unknown> = {}
    for (const [key, value] of Object.entries(common)) {
      if (value !== initial[key as keyof IntegrationSettings]) body[key] = value
    }
    if (JSON.stringify(chosen) !== JSON.stringify(schedule)) Object.assign(body, { schedule: chosen, syncInterval: null })
    return { body: { ...body, ...(extra as object) } }
  }
  return { elements, read }
}

/** "Add integration": a disclosure with the form; the new card appears through `done`. */
export const addIntegrationPanel = (done: () => void): HTMLElement => {
  const message = h("p", { class: "notice", role: "status", "aria-live": "polite" })
  const report: Report = (text, kind) => {
    message.className = `notice ${kind}`
    message.textContent = text
  }
  const { elements, read } = integrationFields("new-integration", null)
  const submit = h("button", { type: "submit", class: "primary" }, "Create integration")
  const form = h("form", { class: "admin-form", "aria-label": "Add integration" }, elements, h("div", { class: "actions" }, submit), message)
  const panel = h("details", { class: "card add-integration" }, h("summary", null, "Add integration"), form)
  form.addEventListener("submit", (e) => {
    e.preventDefault()
    const result = read()
    if ("problem" in result) return report(result.problem, "error")
    submit.disabled = true
    api<{ integration: IntegrationSettings }>("POST", "/api/sync/integrations", result.body).then(
      (r) => {
        submit.disabled = false
        form.reset()
        report(`Created integration ${r.integration.id}${r.integration.credential === null && r.integration.apiKeyEnv === null ? "; set its API key on its card" : ""}.`, "ok")
        done()
      },
      (err: unknown) => {
        submit.disabled = false
        report(describe(err), "error")
      }
    )
  })
  return panel
}

/** A modal dialog around a form; resolves with the button's value, or null when cancelled (Escape too). */
const modal = (label: string, form: HTMLFormElement) =>
  new Promise<HTMLDialogElement>((resolve) => {
    const dialog = h("dialog", { class: "admin-dialog", "aria-label": label }, form)
    document.body.appendChild(dialog)
    dialog.addEventListener("close", () => {
      dialog.remove()
      resolve(dialog)
    })
    dialog.showModal()
  })

/** Edit (PATCH) in a dialog, prefilled with the settings as they are now. */
const editIntegration = async (settings: IntegrationSettings, report: Report, done: () => void) => {
  const { elements, read } = integrationFields(`edit-${settings.id}`, settings)
  const problem = h("p", { class: "notice error", role: "alert" })
  const form = h(
    "form",
    { method: "dialog", class: "admin-form" },
    h("h2", null, `Edit ${settings.name}`),
    elements,
    problem,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", value: "cancel", formnovalidate: true }, "Cancel"),
      h("button", { type: "submit", value: "save", class: "primary" }, "Save")
    )
  )
  // The dialog stays open on a refusal, with the server's message, so nothing typed is lost.
  form.addEventListener("submit", (e) => {
    const submitter = (e as SubmitEvent).submitter as HTMLButtonElement | null
    if (submitter?.value !== "save") return
    e.preventDefault()
    const result = read()
    if ("problem" in result) {
      problem.textContent = result.problem
      return
    }
    if (Object.keys(result.body).length === 0) {
      form.closest("dialog")?.close()
      report("Nothing changed.", "ok")
      return
    }
    api<{ changed: ReadonlyArray<string> }>("PATCH", path(settings.id), result.body).then(
      (r) => {
        form.closest("dialog")?.close()
        report(r.changed.length === 0 ? "Nothing changed." : `Changed: ${r.changed.join(", ")}.`, "ok")
        done()
      },
      (err: unknown) => {
        problem.textContent = describe(err)
      }
    )
  })
  await modal(`Edit integration ${settings.id}`, form)
}

/** Asks for confirmation, with the purge-mirror choice; then DELETE. */
const deleteIntegration = async (settings: IntegrationSettings, report: Report, reportGone: Report, done: () => void) => {
  const purge = h("input", { type: "checkbox", id: "purge-mirror", name: "purgeMirror" })
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", null, `Delete ${settings.name}?`),
    h("p", null, `Integration ${settings.id} leaves the schedule and every view, and its stored key is deleted; its events and its jobs' history stay.`),
    h("p", null, purge, " ", h("label", { for: "purge-mirror" }, "Also delete its mirrored records")),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit", value: "cancel" }, "Cancel"),
      h("button", { type: "submit", value: "delete", class: "danger" }, "Delete integration")
    )
  )
  const dialog = await modal(`Delete integration ${settings.id}`, form)
  if (dialog.returnValue !== "delete") return
  try {
    const r = await api<{ purgedRecords: number }>("DELETE", `${path(settings.id)}${purge.checked ? "?purgeMirror=true" : ""}`)
    reportGone(`Integration ${settings.id} deleted${purge.checked ? `; ${r.purgedRecords} mirrored record(s) purged` : ""}.`, "ok")
    done()
  } catch (e) {
    report(describe(e), "error")
  }
}

/**
 * Edit and Delete, for an integration created over the API (the config file's are edited in the
 * file). `reportGone` is the page's message line: a deleted integration's card goes with its own.
 */
export const adminButtons = (current: () => IntegrationSettings | undefined, report: Report, reportGone: Report, done: () => void) => {
  const edit = h("button", { type: "button", "data-action": "edit-integration" }, "Edit")
  const remove = h("button", { type: "button", class: "danger", "data-action": "delete-integration" }, "Delete")
  edit.addEventListener("click", () => {
    const settings = current()
    if (settings !== undefined) void editIntegration(settings, report, done)
  })
  remove.addEventListener("click", () => {
    const settings = current()
    if (settings !== undefined) void deleteIntegration(settings, report, reportGone, done)
  })
  return h("span", { class: "admin-actions" }, edit, remove)
}

/** Set or remove the stored API key; the input is emptied as soon as it was sent. */
export const keyForm = (id: string, report: Report, done: () => void): HTMLFormElement => {
  const input = h("input", {
    type: "password",
    id: `key-${id}`,
    name: "apiKey",
    autocomplete: "new-password",
    required: true,
    placeholder: "paste the API key"
  })
  const remove = h("button", { type: "button", "data-action": "remove-key" }, "Remove key")
  const form = h(
    "form",
    { class: "inline-form key-form" },
    h("label", { for: `key-${id}` }, "API key "),
    input,
    h("button", { type: "submit", "data-action": "set-key" }, "Set key"),
    remove
  )
  form.addEventListener("submit", (e) => {
    e.preventDefault()
    const apiKey = input.value
    input.value = ""
    api<{ message: string; credential: { fingerprint: string } }>("PUT", `${path(id)}/credentials`, { apiKey }).then(
      (r) => {
        report(`${r.message} Fingerprint ${r.credential.fingerprint}.`, "ok")
        done()
      },
      (err: unknown) => report(describe(err), "error")
    )
  })
  remove.addEventListener("click", () => {
    api<{ removed: boolean }>("DELETE", `${path(id)}/credentials`).then(
      (r) => {
        report(r.removed ? "Stored API key deleted." : "There was no stored API key.", "ok")
        done()
      },
      (err: unknown) => report(describe(err), "error")
    )
  })
  return form
}
