/** One Server-Sent Events message as a client sees it. */
export interface SseMessage {
  readonly id: string | undefined
  readonly event: string
  readonly data: any
}

export interface SseConnection {
  readonly status: number
  readonly headers: Headers
  /** Messages received so far (comments such as heartbeats are counted apart). */
  readonly messages: Array<SseMessage>
  readonly comments: Array<string>
  /** Resolves when the server ends the stream. */
  readonly ended: Promise<void>
  /** Waits until `check` holds for the messages received so far. */
  readonly until: (what: string, check: (messages: ReadonlyArray<SseMessage>) => boolean, timeoutMs?: number) => Promise<void>
  readonly close: () => void
}

/** A real SSE client over fetch: parses `id:`, `event:`, `data:` and `:` comment lines. */
export const connectSse = async (url: string, headers: Record<string, string> = {}): Promise<SseConnection> => {
  const abort = new AbortController()
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: abort.signal })
  const messages: Array<SseMessage> = []
  const comments: Array<string> = []
  const waiters = new Set<() => void>()
  let done = false
  const ended = (async () => {
    if (res.body === null) return
    const decoder = new TextDecoder()
    let buffer = ""
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true })
        let split: number
        while ((split = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, split)
          buffer = buffer.slice(split + 2)
          let id: string | undefined
          let event = "message"
          const data: Array<string> = []
          for (const line of block.split("\n")) {
            if (line.startsWith(":")) comments.push(line.slice(1).trim())
            else if (line.startsWith("id: ")) id = line.slice(4)
            else if (line.startsWith("event: ")) event = line.slice(7)
            else if (line.startsWith("data: ")) data.push(line.slice(6))
          }
          if (data.length > 0) messages.push({ id, event, data: JSON.parse(data.join("\n")) })
          for (const w of waiters) w()
        }
      }
    } catch (e) {
      if (!abort.signal.aborted) throw e
    } finally {
      done = true
      for (const w of waiters) w()
    }
  })()
  const until = (what: string, check: (m: ReadonlyArray<SseMessage>) => boolean, timeoutMs = 30_000) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(probe)
        reject(new Error(`Timed out waiting for ${what}; got ${messages.map((m) => m.event).join(", ")}`))
      }, timeoutMs)
      const probe = () => {
        if (check(messages)) {
          clearTimeout(timer)
          waiters.delete(probe)
          resolve()
        } else if (done) {
          clearTimeout(timer)
          waiters.delete(probe)
          reject(new Error(`The stream ended before ${what}; got ${messages.map((m) => m.event).join(", ")}`))
        }
      }
      waiters.add(probe)
      probe()
    })
  return { status: res.status, headers: res.headers, messages, comments, ended, until, close: () => abort.abort() }
}
