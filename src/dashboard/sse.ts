import { api, getToken } from "./api.js"

/**
 * A live stream around EventSource. The browser reconnects by itself with Last-Event-ID after a
 * network blip; when the stream is closed for good (401 after a token change, server restart
 * answered with an error) it is reopened after a pause from the last position seen, once a
 * plain API call has made sure the token is good (which asks for it if needed).
 */

export interface StreamEvent {
  readonly position: number
  readonly streamId: string
  readonly version: number
  readonly type: string
  readonly recordedAt: string
  readonly data: Record<string, unknown>
}

export const JOB_EVENT_TYPES = [
  "JobQueued", "JobStarted", "StageStarted", "BatchCommitted", "EstimateChanged", "PauseRequested", "JobPaused",
  "StopRequested", "JobStopped", "JobCompleted", "JobFailed", "JobResumed", "JobDeleted"
] as const

export const INTEGRATION_EVENT_TYPES = [
  "IntegrationRegistered", "IntegrationStarted", "IntegrationStopped", "SyncIntervalChanged", "ScheduledRun",
  "CircuitOpened", "CircuitHalfOpened", "CircuitClosed", "SystemInitialized"
] as const

export interface StreamHandlers {
  readonly onEvent: (event: StreamEvent) => void
  readonly onProgress?: (progress: Record<string, unknown>) => void
  /** The job stream ends after a terminal event: do not reopen it then. */
  readonly isFinished?: () => boolean
}

export const openStream = (
  path: string,
  params: Record<string, string>,
  handlers: StreamHandlers,
  types: ReadonlyArray<string> = [...JOB_EVENT_TYPES, ...INTEGRATION_EVENT_TYPES]
): (() => void) => {
  let source: EventSource | null = null
  let lastId: string | null = params.after ?? null
  let closed = false
  let retryDelay = 1000
  let retryTimer: number | undefined

  const onMessage = (message: MessageEvent<string>) => {
    if (message.lastEventId) lastId = message.lastEventId
    retryDelay = 1000
    try {
      handlers.onEvent(JSON.parse(message.data) as StreamEvent)
    } catch (e) {
      console.warn("synclog: unreadable stream event", e)
    }
  }

  const open = () => {
    const search = new URLSearchParams(params)
    if (lastId !== null) search.set("after", lastId)
    const token = getToken()
    if (token !== null) search.set("access_token", token)
    const es = new EventSource(`${path}?${search.toString()}`)
    source = es
    for (const type of types) es.addEventListener(type, onMessage as EventListener)
    es.addEventListener("progress", ((message: MessageEvent<string>) => {
      try {
        handlers.onProgress?.(JSON.parse(message.data) as Record<string, unknown>)
      } catch (e) {
        console.warn("synclog: unreadable progress message", e)
      }
    }) as EventListener)
    es.addEventListener("error", () => {
      if (es.readyState !== EventSource.CLOSED || closed || handlers.isFinished?.()) return
      es.close()
      retryTimer = window.setTimeout(() => {
        if (closed) return
        api("GET", "/api/sync/jobs?limit=1").then(open, () => {
          retryDelay = Math.min(retryDelay * 2, 30_000)
          retryTimer = window.setTimeout(open, retryDelay)
        })
      }, retryDelay)
      retryDelay = Math.min(retryDelay * 2, 30_000)
    })
  }
  open()

  return () => {
    closed = true
    if (retryTimer !== undefined) clearTimeout(retryTimer)
    source?.close()
  }
}

/** The job an event belongs to, for job events. */
export const jobIdOf = (event: StreamEvent): string | undefined =>
  event.streamId.startsWith("job-") ? event.streamId.slice("job-".length) : undefined
