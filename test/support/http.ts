/** Plain fetch against the real server: status and parsed JSON body. */
export interface Reply<T = any> {
  readonly status: number
  readonly body: T
}

export const client = (base: string) => {
  const send = async (method: string, path: string, body?: unknown, raw?: { body: string; contentType?: string }) => {
    const headers: Record<string, string> = {}
    let payload: string | undefined
    if (raw) {
      payload = raw.body
      if (raw.contentType) headers["content-type"] = raw.contentType
    } else if (body !== undefined) {
      payload = JSON.stringify(body)
      headers["content-type"] = "application/json"
    }
    const res = await fetch(base + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) })
    const text = await res.text()
    let parsed: any = text
    try {
      parsed = text === "" ? null : JSON.parse(text)
    } catch {
      // keep text
    }
    return { status: res.status, body: parsed } as Reply
  }
  return {
    get: (path: string) => send("GET", path),
    post: (path: string, body?: unknown) => send("POST", path, body),
    put: (path: string, body?: unknown) => send("PUT", path, body),
    patch: (path: string, body?: unknown) => send("PATCH", path, body),
    del: (path: string, body?: unknown) => send("DELETE", path, body),
    raw: (method: string, path: string, body: string, contentType?: string) =>
      send(method, path, undefined, { body, ...(contentType ? { contentType } : {}) })
  }
}

export type Client = ReturnType<typeof client>

/** Polls until `check` returns a value (real time: the server works on its own clock). */
export const waitFor = async <T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  everyMs = 50
): Promise<T> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    const value = await probe()
    if (value) return value
    last = value
    await new Promise((r) => setTimeout(r, everyMs))
  }
  throw new Error(`Timed out waiting for ${what} (last: ${JSON.stringify(last)})`)
}

export const waitForStatus = (api: Client, jobId: string, statuses: ReadonlyArray<string>, timeoutMs = 30_000) =>
  waitFor(`job ${jobId} to reach ${statuses.join("|")}`, async () => {
    const r = await api.get(`/api/sync/jobs/${jobId}`)
    return statuses.includes(r.body?.status) ? r.body : undefined
  }, timeoutMs)
