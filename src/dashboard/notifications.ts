import { api, describe } from "./api.js"
import { h, notice, replaceChildren } from "./dom.js"
import * as fmt from "./format.js"
import type { NotificationEndpoint } from "./types.js"

/**
 * The webhook endpoints of the config file (`GET /api/sync/notifications`): delivery state per
 * endpoint and a "Send test" button (`POST /api/sync/notifications/test`).
 */
export const notificationsPanel = () => {
  const message = notice()
  const body = h("tbody")
  const table = h(
    "table",
    { class: "notifications" },
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        h("th", { scope: "col" }, "Endpoint"),
        h("th", { scope: "col", class: "opt" }, "URL"),
        h("th", { scope: "col", class: "opt" }, "Events"),
        h("th", { scope: "col" }, "Pending"),
        h("th", { scope: "col" }, "Last success"),
        h("th", { scope: "col" }, "Last error"),
        h("th", { scope: "col", class: "opt" }, "Given up")
      )
    ),
    body
  )
  const empty = h("p", { class: "muted", hidden: true }, "No webhook endpoints; add a notifications list to the config file (README, Webhooks and alerts).")
  const testButton = h("button", { type: "button", "data-action": "test-notifications" }, "Send test")
  const root = h(
    "section",
    { class: "notifications-panel", "aria-labelledby": "notifications-title" },
    h("header", { class: "panel-head" }, h("h2", { id: "notifications-title" }, "Notifications"), testButton),
    h("div", { class: "table-wrap" }, table),
    empty,
    message.el
  )

  const render = (endpoints: ReadonlyArray<NotificationEndpoint>) => {
    table.hidden = endpoints.length === 0
    empty.hidden = endpoints.length > 0
    testButton.disabled = endpoints.length === 0
    replaceChildren(
      body,
      endpoints.map((e) =>
        h(
          "tr",
          { "data-endpoint": e.id },
          h("td", { "data-col": "id" }, e.id),
          h("td", { class: "opt url" }, e.url),
          h("td", { class: "opt" }, e.events.join(", ")),
          h("td", { "data-col": "pending" }, String(e.state.pending)),
          h("td", { "data-col": "lastSuccess" }, e.state.lastSuccessAt ? fmt.dateTime(e.state.lastSuccessAt) : "—"),
          h(
            "td",
            { "data-col": "lastError" },
            e.state.lastErrorAt ? `${fmt.dateTime(e.state.lastErrorAt)}${e.state.lastError ? `: ${e.state.lastError}` : ""}` : "—"
          ),
          h("td", { class: "opt" }, String(e.state.givenUp))
        )
      )
    )
  }

  const load = () =>
    api<{ endpoints: ReadonlyArray<NotificationEndpoint> }>("GET", "/api/sync/notifications").then(
      (r) => render(r.endpoints),
      (e: unknown) => message.show(describe(e), "error")
    )

  testButton.addEventListener("click", () => {
    testButton.disabled = true
    api<{ results: ReadonlyArray<{ endpointId: string; delivered: boolean; status: number | null; error: string | null }> }>(
      "POST",
      "/api/sync/notifications/test"
    ).then(
      (r) => {
        testButton.disabled = false
        const failed = r.results.some((x) => !x.delivered)
        message.show(
          r.results.map((x) => x.delivered ? `${x.endpointId}: delivered (${x.status})` : `${x.endpointId}: not delivered: ${x.error ?? `answered ${x.status}`}`).join(" · "),
          failed ? "error" : "ok"
        )
        void load()
      },
      (e: unknown) => {
        testButton.disabled = false
        message.show(describe(e), "error")
      }
    )
  })

  return { root, load }
}
