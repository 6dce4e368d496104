import { h } from "./dom.js"

/**
 * Every data call of the page: JSON over fetch, `Authorization: Bearer <token>` when a token is
 * known. A 401 asks for the token once (shared by concurrent calls), keeps it in
 * sessionStorage (gone when the tab closes) and retries.
 */

const TOKEN_KEY = "synclog.token"

export class ApiError extends Error {
  constructor(readonly status: number, readonly error: string, message: string) {
    super(message)
  }
}

/** Fired on window when a token was entered (the header shows "Forget token" then). */
export const TOKEN_CHANGED = "synclog:token"

export const getToken = (): string | null => sessionStorage.getItem(TOKEN_KEY)

export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY)

let asking: Promise<void> | null = null

/** The token prompt: a modal dialog (focus trapped, Escape cancels). */
export const askForToken = (reason: string): Promise<void> => {
  if (asking !== null) return asking
  asking = new Promise<void>((resolve, reject) => {
    const input = h("input", { type: "password", id: "token-input", name: "token", autocomplete: "off", required: true })
    const message = h("p", { class: "muted" }, reason)
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", null, "API token"),
      message,
      h("label", { for: "token-input" }, "Token (SYNC_API_TOKEN or SYNC_READ_TOKEN)"),
      input,
      h("p", { class: "muted small" }, "Kept in this tab's session storage only."),
      h("div", { class: "actions" }, h("button", { type: "submit", class: "primary", value: "ok" }, "Use token"))
    )
    const dialog = h("dialog", { class: "token-dialog", "aria-labelledby": "token-title" }, form)
    form.querySelector("h2")!.id = "token-title"
    document.body.appendChild(dialog)
    dialog.addEventListener("close", () => {
      const value = input.value.trim()
      dialog.remove()
      asking = null
      if (dialog.returnValue === "ok" && value !== "") {
        sessionStorage.setItem(TOKEN_KEY, value)
        window.dispatchEvent(new Event(TOKEN_CHANGED))
        resolve()
      } else {
        reject(new ApiError(401, "Unauthorized", "This server needs an API token; reload the page to enter it."))
      }
    })
    dialog.showModal()
    input.focus()
  })
  return asking
}

const authHeaders = (): Record<string, string> => {
  const token = getToken()
  return token === null ? {} : { authorization: `Bearer ${token}` }
}

export const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
  for (let attempt = 0; ; attempt++) {
    const headers: Record<string, string> = { accept: "application/json", ...authHeaders() }
    const init: RequestInit = { method, headers }
    if (body !== undefined) {
      headers["content-type"] = "application/json"
      init.body = JSON.stringify(body)
    }
    let response: Response
    try {
      response = await fetch(path, init)
    } catch {
      throw new ApiError(0, "NetworkError", "synclog did not answer; is the server running?")
    }
    const data = (await response.json().catch(() => null)) as
      | { readonly error?: string; readonly message?: string }
      | null
    if (response.status === 401 && attempt < 5) {
      if (getToken() !== null) forgetToken()
      await askForToken(attempt === 0 && getToken() === null ? "This synclog needs an API token." : "That token was refused; try again.")
      continue
    }
    if (!response.ok) {
      throw new ApiError(response.status, data?.error ?? `HTTP ${response.status}`, data?.message ?? `The server answered ${response.status}`)
    }
    return data as T
  }
}

export const query = (params: Record<string, string | number | boolean | undefined | null>): string => {
  const search = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value))
  }
  const text = search.toString()
  return text === "" ? "" : `?${text}`
}

/** The error text to show for a refused action. */
export const describe = (e: unknown): string =>
  e instanceof ApiError ? `${e.message}${e.status > 0 ? ` (${e.status} ${e.error})` : ""}` : String(e)
