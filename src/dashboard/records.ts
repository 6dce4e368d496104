import { api, describe, query } from "./api.js"
import { h, notice, replaceChildren } from "./dom.js"
import * as fmt from "./format.js"
import { ENTITY_TYPES, type Integration, type MirrorRecord, type View } from "./types.js"

/**
 * Browse an integration's mirror, one entity type at a time, with the records API's cursor
 * paging (#/records?integrationId=&entity=&includeDeleted=1&cursor=). "Newer" pages go back
 * through the cursors this tab has seen; a record's payload opens as formatted JSON.
 */

const PAGE = 50

export const recordsView: View = (root, params) => {
  const integrationId = params.get("integrationId") ?? ""
  const entity = (ENTITY_TYPES as ReadonlyArray<string>).includes(params.get("entity") ?? "") ? params.get("entity")! : "work_items"
  const includeDeleted = params.get("includeDeleted") === "1"
  const cursor = params.get("cursor") ?? ""
  // The cursors of the pages before this one ("-" is the first page), for "Previous".
  const previous = params.get("prev")?.split(",").filter((c) => c !== "") ?? []

  const message = notice()
  const integrationSelect = h("select", { name: "integrationId" })
  const form = h(
    "form",
    { class: "filters", "aria-label": "Which records" },
    h("label", null, "Integration ", integrationSelect),
    h(
      "label",
      null,
      "Entity ",
      h("select", { name: "entity" }, ENTITY_TYPES.map((e) => h("option", { value: e, selected: e === entity }, e)))
    ),
    h("label", null, h("input", { type: "checkbox", name: "includeDeleted", value: "1", checked: includeDeleted }), " include deleted")
  )
  const go = (extra: Record<string, string>) => {
    const data = new FormData(form)
    const next = new URLSearchParams()
    next.set("integrationId", String(data.get("integrationId") ?? ""))
    next.set("entity", String(data.get("entity") ?? entity))
    if (data.get("includeDeleted") === "1") next.set("includeDeleted", "1")
    for (const [k, v] of Object.entries(extra)) if (v !== "") next.set(k, v)
    location.hash = `#/records?${next.toString()}`
  }
  form.addEventListener("change", () => go({}))

  const tbody = h("tbody")
  const table = h(
    "table",
    { class: "records" },
    h("caption", { class: "visually-hidden" }, "Mirrored records, by source id"),
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, "Id"),
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col", class: "opt" }, "Project"),
        h("th", { scope: "col", class: "opt" }, "Updated (source)"),
        h("th", { scope: "col", class: "opt" }, "Last seen"),
        h("th", { scope: "col" }, "State"),
        h("th", { scope: "col" }, "Payload")
      )
    ),
    tbody
  )
  const pager = h("nav", { class: "pager", "aria-label": "Record pages" })
  replaceChildren(root, h("h1", { tabindex: -1 }, "Records"), form, message.el, h("div", { class: "table-wrap" }, table), pager)

  const row = (r: MirrorRecord) => {
    const payload = h("pre", { class: "json", hidden: true })
    const toggle = h("button", { type: "button", class: "small", "aria-expanded": "false" }, "Show")
    const payloadRow = h("tr", { class: "payload-row", hidden: true }, h("td", { colspan: 7 }, payload))
    toggle.addEventListener("click", () => {
      const open = payloadRow.hidden
      if (open && payload.textContent === "") payload.textContent = JSON.stringify(r.payload, null, 2)
      payloadRow.hidden = !open
      payload.hidden = !open
      toggle.textContent = open ? "Hide" : "Show"
      toggle.setAttribute("aria-expanded", String(open))
    })
    const p = (r.payload ?? {}) as Record<string, unknown>
    const name = typeof p.name === "string" ? p.name : ""
    const state = r.deletedAt ? "deleted" : r.archivedAt ? "archived" : "active"
    return [
      h(
        "tr",
        { "data-record": r.id, class: r.deletedAt ? "deleted" : null },
        h("td", null, h("code", { title: r.id }, fmt.shortId(r.id))),
        h("td", null, name),
        h("td", { class: "opt" }, r.projectId ? fmt.shortId(r.projectId) : "—"),
        h("td", { class: "opt" }, fmt.dateTime(r.updatedAt)),
        h("td", { class: "opt" }, fmt.dateTime(r.lastSeenAt)),
        h("td", null, h("span", { class: `badge record-${state}` }, state)),
        h("td", null, toggle)
      ),
      payloadRow
    ]
  }

  const load = async () => {
    const status = await api<{ integrations: ReadonlyArray<Integration> }>("GET", "/api/sync/integrations/status")
    const chosen = integrationId || status.integrations[0]?.integrationId || ""
    replaceChildren(
      integrationSelect,
      status.integrations.map((i) => h("option", { value: i.integrationId, selected: i.integrationId === chosen }, i.name))
    )
    if (chosen === "") {
      replaceChildren(tbody, h("tr", null, h("td", { colspan: 7, class: "muted" }, "No integration is registered.")))
      return
    }
    const r = await api<{ records: ReadonlyArray<MirrorRecord>; total: number; nextCursor: string | null }>(
      "GET",
      `/api/sync/integrations/${encodeURIComponent(chosen)}/records${query({
        entity,
        includeDeleted: includeDeleted ? "true" : undefined,
        limit: PAGE,
        cursor: cursor || undefined
      })}`
    )
    replaceChildren(
      tbody,
      r.records.length === 0 ? h("tr", null, h("td", { colspan: 7, class: "muted" }, "No records.")) : r.records.flatMap(row)
    )
    const first = previous.length * PAGE + 1
    replaceChildren(
      pager,
      cursor !== ""
        ? h("button", { type: "button", class: "small", onclick: () => go({ cursor: previous.at(-1) === "-" ? "" : previous.at(-1) ?? "", prev: previous.slice(0, -1).join(",") }) }, "← Previous")
        : null,
      h("span", { class: "muted" }, r.total === 0 ? "0 records" : `${first}–${first + r.records.length - 1} of ${r.total}`),
      r.nextCursor !== null
        ? h("button", { type: "button", class: "small", onclick: () => go({ cursor: r.nextCursor!, prev: [...previous, cursor || "-"].join(",") }) }, "Next →")
        : null
    )
    table.dataset.loaded = "true"
  }
  load().catch((e: unknown) => message.show(describe(e), "error"))
  return () => {}
}
