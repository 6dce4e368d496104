/** A few DOM helpers: building elements without innerHTML (nothing from the API is ever parsed as HTML). */

type Child = Node | string | number | null | undefined | false
type Props = Record<string, string | number | boolean | null | undefined | EventListener>

export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props?: Props | null,
  ...children: Array<Child | ReadonlyArray<Child>>
): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue
    if (typeof value === "function") el.addEventListener(key.slice(2).toLowerCase(), value)
    else if (key === "class") el.className = String(value)
    else el.setAttribute(key, value === true ? "" : String(value))
  }
  append(el, children)
  return el
}

const append = (el: Element, children: ReadonlyArray<Child | ReadonlyArray<Child>>) => {
  for (const child of children) {
    if (Array.isArray(child)) append(el, child)
    else if (child instanceof Node) el.appendChild(child)
    else if (child !== null && child !== undefined && child !== false) el.appendChild(document.createTextNode(String(child)))
  }
}

/** Sets a text only when it changed, so a live update touches only the cells that moved. */
export const setText = (el: Element, text: string) => {
  if (el.textContent !== text) el.textContent = text
}

export const replaceChildren = (el: Element, ...children: Array<Child | ReadonlyArray<Child>>) => {
  el.textContent = ""
  append(el, children)
}

/** Runs the given updates in the next animation frame, once per key (the latest wins). */
const pending = new Map<string, () => void>()
let frame = 0
export const inNextFrame = (key: string, update: () => void) => {
  pending.set(key, update)
  if (frame === 0) {
    frame = requestAnimationFrame(() => {
      frame = 0
      const updates = [...pending.values()]
      pending.clear()
      for (const run of updates) run()
    })
  }
}

/** At most one call per `ms` per key; a call during the wait runs once at its end. */
export const throttler = (ms: number) => {
  const state = new Map<string, { timer: number | undefined; again: boolean; last: number }>()
  const run = (key: string, fn: () => void) => {
    const s = state.get(key) ?? { timer: undefined, again: false, last: 0 }
    state.set(key, s)
    if (s.timer !== undefined) {
      s.again = true
      return
    }
    const wait = Math.max(0, s.last + ms - Date.now())
    s.timer = window.setTimeout(() => {
      s.timer = undefined
      s.last = Date.now()
      fn()
      if (s.again) {
        s.again = false
        run(key, fn)
      }
    }, wait)
  }
  const cancel = () => {
    for (const s of state.values()) if (s.timer !== undefined) clearTimeout(s.timer)
    state.clear()
  }
  return { run, cancel }
}

/** A polite live region: messages for screen readers and eyes, errors in the alert style. */
export const notice = () => {
  const el = h("p", { class: "notice", role: "status", "aria-live": "polite" })
  const show = (text: string, kind: "ok" | "error" = "ok") => {
    el.className = `notice ${kind}`
    el.textContent = text
  }
  return { el, show, clear: () => show("") }
}
