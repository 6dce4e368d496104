import { api, describe } from "./api.js"
import { h } from "./dom.js"
import type { Job } from "./types.js"

/**
 * The commands a job's status allows (the API decides; a refused one shows its message):
 * queued → stop; running → pause, stop, stop now; stopping → stop now; paused → resume, stop;
 * stopped, failed → resume, delete; completed → delete.
 */
const allowed: Record<string, ReadonlyArray<Action>> = {
  queued: ["stop"],
  running: ["pause", "stop", "stopNow"],
  stopping: ["stopNow"],
  paused: ["resume", "stop"],
  stopped: ["resume", "delete"],
  failed: ["resume", "delete"],
  completed: ["delete"]
}

type Action = "stop" | "stopNow" | "pause" | "resume" | "delete"

const labels: Record<Action, string> = {
  stop: "Stop",
  stopNow: "Stop now",
  pause: "Pause",
  resume: "Resume",
  delete: "Delete…"
}

const titles: Record<Action, string> = {
  stop: "Graceful stop: the batch in flight commits first",
  stopNow: "Immediate stop: the batch in flight is rolled back",
  pause: "Pause at the next batch boundary",
  resume: "Resume from the last checkpoint",
  delete: "Delete the job (its events stay in the log)"
}

/** Asks whether to delete the logs too; resolves null when cancelled. */
const confirmDelete = (jobId: string): Promise<{ deleteLogs: boolean } | null> =>
  new Promise((resolve) => {
    const checkbox = h("input", { type: "checkbox", id: "delete-logs" })
    const dialog = h(
      "dialog",
      { class: "confirm-dialog", "aria-label": "Delete job" },
      h(
        "form",
        { method: "dialog" },
        h("h2", null, "Delete job?"),
        h("p", null, `Job ${jobId} leaves the job list; its events stay in the log for audit.`),
        h("p", null, checkbox, " ", h("label", { for: "delete-logs" }, "Also delete its log lines")),
        h(
          "div",
          { class: "actions" },
          h("button", { type: "submit", value: "cancel" }, "Cancel"),
          h("button", { type: "submit", value: "delete", class: "danger" }, "Delete")
        )
      )
    )
    document.body.appendChild(dialog)
    dialog.addEventListener("close", () => {
      dialog.remove()
      resolve(dialog.returnValue === "delete" ? { deleteLogs: checkbox.checked } : null)
    })
    dialog.showModal()
  })

const run = async (action: Action, jobId: string): Promise<string | null> => {
  const path = `/api/sync/jobs/${encodeURIComponent(jobId)}`
  switch (action) {
    case "stop":
      return (await api<{ message: string }>("POST", `${path}/stop`, { graceful: true })).message
    case "stopNow":
      return (await api<{ message: string }>("POST", `${path}/stop`, { graceful: false })).message
    case "pause":
      return (await api<{ message: string }>("POST", `${path}/pause`)).message
    case "resume":
      return (await api<{ message: string }>("POST", `${path}/resume`)).message
    case "delete": {
      const choice = await confirmDelete(jobId)
      if (choice === null) return null
      await api("DELETE", path, choice)
      return `Job ${jobId} deleted${choice.deleteLogs ? " with its logs" : ""}.`
    }
  }
}

/** The buttons for a job, rebuilt only when its status changes. */
export const jobActions = (
  job: Pick<Job, "id" | "status">,
  report: (text: string, kind: "ok" | "error") => void,
  done: (action: Action) => void
): HTMLElement => {
  const box = h("span", { class: "job-actions" })
  for (const action of allowed[job.status] ?? []) {
    const button = h("button", {
      type: "button",
      class: action === "delete" || action === "stopNow" ? "small danger" : "small",
      title: titles[action],
      "data-action": action,
      onclick: () => {
        button.disabled = true
        run(action, job.id).then(
          (message) => {
            button.disabled = false
            if (message !== null) report(message, "ok")
            done(action)
          },
          (e: unknown) => {
            button.disabled = false
            report(describe(e), "error")
          }
        )
      }
    }, labels[action])
    box.appendChild(button)
  }
  return box
}
