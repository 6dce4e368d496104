import "./styles.css"
import { forgetToken, getToken, TOKEN_CHANGED } from "./api.js"
import { h, replaceChildren } from "./dom.js"
import { integrationsView } from "./integrations.js"
import { jobDetailView } from "./jobDetail.js"
import { jobsView } from "./jobs.js"
import { recordsView } from "./records.js"
import type { View } from "./types.js"

/**
 * The page: a header with the navigation and hash routes, so every screen has a URL and a
 * reload keeps it (#/, #/jobs?…, #/jobs/<id>, #/records?…). Each route change closes the
 * previous view (its streams and timers) before the next one renders.
 */

const routes: ReadonlyArray<readonly [RegExp, View, string]> = [
  [/^\/?$/, integrationsView, "integrations"],
  [/^\/integrations$/, integrationsView, "integrations"],
  [/^\/jobs$/, jobsView, "jobs"],
  [/^\/jobs\/([^/]+)$/, jobDetailView, "jobs"],
  [/^\/records$/, recordsView, "records"]
]

const main = h("main", { id: "main" })
const navLink = (href: string, key: string, label: string) => h("a", { href, "data-nav": key }, label)
const tokenButton = h("button", { type: "button", class: "small", hidden: true }, "Forget token")
tokenButton.addEventListener("click", () => {
  forgetToken()
  location.reload()
})
window.addEventListener(TOKEN_CHANGED, () => {
  tokenButton.hidden = getToken() === null
})

document.body.append(
  h("a", { href: "#main", class: "skip-link" }, "Skip to content"),
  h(
    "header",
    { class: "top" },
    h("a", { href: "#/", class: "brand" }, "synclog"),
    h(
      "nav",
      { "aria-label": "Sections" },
      navLink("#/", "integrations", "Integrations"),
      navLink("#/jobs", "jobs", "Jobs"),
      navLink("#/records", "records", "Records")
    ),
    tokenButton
  ),
  main
)

let closeView: () => void = () => {}

const route = () => {
  const hash = location.hash.replace(/^#/, "")
  // The skip link's target is not a route.
  if (hash === "main") return
  const [path = "", search = ""] = hash.split("?", 2)
  const params = new URLSearchParams(search)
  closeView()
  const match = routes.find(([pattern]) => pattern.test(path))
  for (const link of document.querySelectorAll<HTMLAnchorElement>("[data-nav]")) {
    if (link.dataset.nav === match?.[2]) link.setAttribute("aria-current", "page")
    else link.removeAttribute("aria-current")
  }
  if (match === undefined) {
    replaceChildren(main, h("h1", { tabindex: -1 }, "Not found"), h("p", null, h("a", { href: "#/" }, "Back to the integrations")))
    closeView = () => {}
    return
  }
  const [pattern, view] = match
  const arg = pattern.exec(path)?.[1]
  closeView = view(main, params, arg === undefined ? undefined : decodeURIComponent(arg))
  tokenButton.hidden = getToken() === null
  // Keyboard and screen-reader users land on the new screen's title.
  if (document.activeElement !== document.body) main.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true })
}

window.addEventListener("hashchange", route)
route()
