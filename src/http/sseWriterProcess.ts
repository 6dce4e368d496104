/**
 * The SSE writer process: it writes the live event streams' bytes to their sockets, so that the
 * engine's process does not. A message sent to a thousand followers is a thousand socket writes,
 * about 11 µs of CPU each (most of it the kernel's TCP path); on the engine's event loop that
 * stalled the sync ~11 ms per event. Here they run on another core.
 *
 * The server keeps everything else: routing, authorization, the feed cursors, filtering and
 * rendering (sseWriters.ts). It hands over a connection's socket once its response head is out,
 * then sends what to write to which connections. This file imports only Node's own modules (and
 * chunkFraming.ts, which does too), so its bundle (dist/sse-writer.js) is small and starts in a
 * few milliseconds.
 *
 * Protocol (IPC messages, JSON): from the server `open` {id, chunked} with the socket's handle,
 * `write` {ids (as runs: first, count, ...), text}, `end` {id, text} (the last text, then the end of the response), `drop`
 * {id}. To the server: `ready` once it listens, then `full` {id} (the socket's buffer is full),
 * `drain` {id}, `gone` {id} (the connection closed or failed here).
 */
import { Socket } from "node:net"
import { frameBody, LAST_CHUNK } from "./chunkFraming.js"

type FromServer =
  | { readonly t: "open"; readonly id: number; readonly chunked: boolean }
  /** `ids` as runs: first id, count, first id, count, ... */
  | { readonly t: "write"; readonly ids: ReadonlyArray<number>; readonly text: string }
  | { readonly t: "end"; readonly id: number; readonly text: string }
  | { readonly t: "drop"; readonly id: number }

export type ToServer = { readonly t: "full" | "drain" | "gone"; readonly id: number } | { readonly t: "ready" }

interface Connection {
  readonly id: number
  readonly socket: Socket
  readonly chunked: boolean
  full: boolean
  /** Texts received for it since the last flush, and the numbers of their messages. */
  pending: Array<string>
  key: string
}

const connections = new Map<number, Connection>()
/** The server has disconnected: exit once the last connection closes. */
let leaving = false

const tell = (message: ToServer) => {
  if (process.connected) process.send!(message)
}

const send = (connection: Connection, bytes: Buffer) => {
  if (connection.socket.destroyed) return
  if (!connection.socket.write(bytes) && !connection.full) {
    connection.full = true
    tell({ t: "full", id: connection.id })
  }
}

/**
 * Writes are gathered per connection until this turn of the event loop is over, then each
 * connection gets one write. Keeping up, that is one write per message; behind (the server
 * sent several messages while this process waited for a core), one write carries them all, so
 * a busy machine costs fewer writes, not a growing backlog. Connections that got the same
 * messages share one framed buffer (the key is the messages' numbers).
 */
let messages = 0
let dirty: Array<Connection> = []
const flush = () => {
  const batch = dirty
  dirty = []
  const framed = new Map<string, Buffer>()
  for (const connection of batch) {
    // Dropped since (an empty text framed as a chunk would end the response).
    if (connection.pending.length === 0) continue
    const key = (connection.chunked ? "c" : "p") + connection.key
    let bytes = framed.get(key)
    if (bytes === undefined) {
      bytes = frameBody(connection.pending.length === 1 ? connection.pending[0]! : connection.pending.join(""), connection.chunked)
      framed.set(key, bytes)
    }
    connection.pending = []
    connection.key = ""
    send(connection, bytes)
  }
}
const queue = (connection: Connection, text: string) => {
  if (connection.pending.length === 0) {
    if (dirty.length === 0) setImmediate(flush)
    dirty.push(connection)
  }
  connection.pending.push(text)
  connection.key += `${messages},`
}
/** What is queued for one connection, at once (before its end). */
const flushOne = (connection: Connection) => {
  if (connection.pending.length === 0) return
  send(connection, frameBody(connection.pending.join(""), connection.chunked))
  connection.pending = []
  connection.key = ""
  dirty = dirty.filter((c) => c !== connection)
}

const open = (id: number, chunked: boolean, handle: unknown) => {
  // A raw TCP handle (sseWriters.ts sends `socket._handle`): wrapped, it reads and writes like any socket.
  // (`handle` is a constructor option Node's typings leave out.)
  const socket = new Socket({ handle, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0])
  const connection: Connection = { id, socket, chunked, full: false, pending: [], key: "" }
  connections.set(id, connection)
  socket.setNoDelay(true)
  // The client sends nothing after its request; reading is how its going away is seen.
  socket.on("data", () => {})
  socket.on("drain", () => {
    if (!connection.full) return
    connection.full = false
    tell({ t: "drain", id })
  })
  socket.on("error", () => socket.destroy())
  socket.on("close", () => {
    if (connections.get(id) !== connection) return
    connections.delete(id)
    tell({ t: "gone", id })
    if (leaving && connections.size === 0) process.exit(0)
  })
}

process.on("message", (message: FromServer, handle: unknown) => {
  switch (message.t) {
    case "open":
      if (handle === undefined) return tell({ t: "gone", id: message.id })
      return open(message.id, message.chunked, handle)
    case "write":
      messages++
      if (message.text === "") return
      for (let i = 0; i < message.ids.length; i += 2) {
        for (let id = message.ids[i]!, end = id + message.ids[i + 1]!; id < end; id++) {
          const connection = connections.get(id)
          if (connection !== undefined) queue(connection, message.text)
        }
      }
      return
    case "end": {
      const connection = connections.get(message.id)
      if (connection === undefined) return
      if (message.text !== "") queue(connection, message.text)
      flushOne(connection)
      // The server already let go of it: the last chunk, then the connection closes.
      finish(connection)
      return
    }
    case "drop": {
      const connection = connections.get(message.id)
      if (connection === undefined) return
      connection.pending = []
      connection.socket.destroy()
      return
    }
  }
})

/** Ends a response: the chunked body's last chunk, then the connection closes. */
const finish = (connection: Connection) => {
  if (connection.chunked) connection.socket.end(LAST_CHUNK)
  else connection.socket.end()
}

// The server is gone (shut down, or died): its streams end cleanly, so that clients reconnect
// (with Last-Event-ID) to the next server; the process exits when they are closed, or after 2 s.
process.on("disconnect", () => {
  leaving = true
  flush()
  for (const connection of connections.values()) finish(connection)
  if (connections.size === 0) process.exit(0)
  setTimeout(() => process.exit(0), 2_000)
})
tell({ t: "ready" })
