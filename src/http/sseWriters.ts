import { Context, Deferred, Effect, FiberId, Layer, Runtime } from "effect"
import { type ChildProcess, fork } from "node:child_process"
import { existsSync } from "node:fs"
import { setPriority } from "node:os"
import type { ServerResponse } from "node:http"
import type { Socket } from "node:net"
import { fileURLToPath } from "node:url"
import { responseSink, type SseSink } from "./sseConnection.js"
import type { ToServer } from "./sseWriterProcess.js"

/** Where a live stream's bytes are written: in this process, or by the SSE writer process. */
export type SseWriterMode = "process" | "inline"

export interface OpenedSink {
  readonly sink: SseSink
  /** Lets go of the connection once its stream is over (the server's response is then ended). */
  readonly release: Effect.Effect<void>
}

/**
 * The sinks of `GET /api/sync/stream`. `inline` writes each connection's socket from this
 * process. `process` (the default, SYNC_SSE_WRITER) hands the socket to one writer process
 * (sseWriterProcess.ts), started at the first stream: what a message costs the engine's event
 * loop is then one IPC message per batch for all connections, not a socket write per connection.
 */
export class SseWriters extends Context.Tag("synclog/SseWriters")<SseWriters, {
  /** Writes the response head and returns the connection's sink. */
  readonly open: (res: ServerResponse, headers: Readonly<Record<string, string>>) => Effect.Effect<OpenedSink>
  /**
   * Sends what the sinks queued now rather than once this turn of the event loop is over (the
   * feed calls it after each hand-over, which may run in a sync's fiber that keeps the loop).
   */
  readonly flush: () => void
}>() {
  static readonly inline = Layer.succeed(SseWriters, {
    open: (res, headers) => Effect.sync(() => ({ sink: responseSink(res, headers), release: Effect.void })),
    flush: () => {}
  })

  static readonly layer = (mode: SseWriterMode, niceness = WRITER_NICENESS) =>
    mode === "inline" ? SseWriters.inline : writerProcessLayer(niceness)
}

/**
 * The writer's default scheduling priority (nice, SYNC_SSE_WRITER_NICE): the server's. At nice 10
 * the full sync with 1,000 clients ran no faster (0.66 x against 0.68 x at 0, the same machine
 * and hour) and the delay p99 rose from 163 to 428 ms (BENCHMARKS.md, "Live streams").
 */
export const WRITER_NICENESS = 0

/** The writer's entry: its bundle beside the server's (`npm run build`), else its source through tsx. */
const writerEntry = (): { readonly file: string; readonly execArgv: Array<string> } | undefined => {
  const bundled = fileURLToPath(new URL("./sse-writer.js", import.meta.url))
  if (existsSync(bundled)) return { file: bundled, execArgv: [] }
  const source = fileURLToPath(new URL("./sseWriterProcess.ts", import.meta.url))
  if (existsSync(source)) return { file: source, execArgv: ["--import", "tsx"] }
  return undefined
}

/** A connection handed to the writer, as this process tracks it. */
interface Handed {
  readonly id: number
  readonly res: ServerResponse
  readonly socket: Socket
  /** The writer said its buffers are full; writes wait for `drain`. */
  full: boolean
  /** Gone at the writer, or ended by the stream: nothing more is sent for it. */
  over: boolean
  drained: (() => void) | undefined
  /** The index in `ops` of its last write this round, and the round it is from. */
  lastOp: number
  round: number
}

type Op =
  | { readonly t: "write"; readonly ids: Array<number>; readonly text: string }
  | { readonly t: "end"; readonly id: number; readonly text: string }
  | { readonly t: "drop"; readonly id: number }

/**
 * Connection ids as runs, `[first, count, first, count, ...]`: the followers of the whole feed
 * are mostly consecutive ids, so a thousand of them cost a few numbers in the message, not a
 * thousand.
 */
export const runsOf = (ids: ReadonlyArray<number>): Array<number> => {
  const runs: Array<number> = []
  for (const id of ids) {
    const n = runs.length
    if (n > 0 && runs[n - 2]! + runs[n - 1]! === id) runs[n - 1]!++
    else runs.push(id, 1)
  }
  return runs
}

interface Writer {
  readonly child: ChildProcess
  readonly ready: Deferred.Deferred<boolean>
  readonly handed: Map<number, Handed>
}

const writerProcessLayer = (niceness: number) => Layer.scoped(
  SseWriters,
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const log = (message: string) => Runtime.runFork(runtime)(Effect.logWarning(message))
    let writer: Writer | undefined
    let nextId = 1
    let warnedMissing = false
    let closing = false

    // What the streams asked for since the last flush, in order: one IPC message per distinct
    // text (every follower of the whole feed gets the same text), sent once this turn is over.
    let ops: Array<Op> = []
    let groupOf = new Map<string, number>()
    let round = 0
    let flushing = false
    const flush = () => {
      flushing = false
      if (ops.length === 0) return
      const batch = ops
      ops = []
      groupOf = new Map()
      round++
      const current = writer
      if (current === undefined || !current.child.connected) return
      for (const op of batch) current.child.send(op.t === "write" ? { t: "write", ids: runsOf(op.ids), text: op.text } : op)
    }
    const push = (op: Op) => {
      ops.push(op)
      if (!flushing) {
        flushing = true
        setImmediate(flush)
      }
    }
    const queueWrite = (h: Handed, text: string) => {
      const at = groupOf.get(text)
      // The same text joins its group unless this connection already has a later op (order per connection).
      if (at !== undefined && (h.round !== round || h.lastOp <= at)) {
        ;(ops[at] as { ids: Array<number> }).ids.push(h.id)
        h.lastOp = at
      } else {
        push({ t: "write", ids: [h.id], text })
        groupOf.set(text, ops.length - 1)
        h.lastOp = ops.length - 1
      }
      h.round = round
    }

    const start = (): Writer | undefined => {
      const entry = writerEntry()
      if (entry === undefined) {
        if (!warnedMissing) log("The SSE writer process has no entry file (run `npm run build`); streams are written by the server itself")
        warnedMissing = true
        return undefined
      }
      const child = fork(entry.file, [], { execArgv: entry.execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"], serialization: "json" })
      // A nice value above 0 puts the engine first: on a busy machine the writer then gets the
      // cores the sync leaves, and gathers what waited into fewer writes (sseWriterProcess.ts).
      try {
        if (child.pid !== undefined && niceness !== 0) setPriority(child.pid, niceness)
      } catch {
        // Not allowed here (some sandboxes): it runs at the server's priority.
      }
      const ready = Deferred.unsafeMake<boolean>(FiberId.none)
      const started: Writer = { child, ready, handed: new Map() }
      child.on("message", (message: ToServer) => {
        if (message.t === "ready") return void Deferred.unsafeDone(ready, Effect.succeed(true))
        const h = started.handed.get(message.id)
        if (h === undefined) return
        switch (message.t) {
          case "full":
            h.full = true
            return
          case "drain": {
            h.full = false
            const resume = h.drained
            h.drained = undefined
            resume?.()
            return
          }
          case "gone":
            h.over = true
            started.handed.delete(h.id)
            // This process's copy of the socket too: the response closes, and its stream with it.
            h.socket.destroy()
            return
        }
      })
      const lost = (why: string) => {
        Deferred.unsafeDone(ready, Effect.succeed(false))
        if (writer === started) writer = undefined
        if (started.handed.size > 0 && !closing) log(`The SSE writer process ${why}; its ${started.handed.size} stream(s) are closed (clients reconnect with Last-Event-ID)`)
        for (const h of started.handed.values()) {
          h.over = true
          h.socket.destroy()
        }
        started.handed.clear()
      }
      child.on("error", (error) => lost(`failed (${error.message})`))
      child.on("exit", (code, signal) => lost(`exited (${signal ?? `code ${code}`})`))
      // It never keeps this process alive.
      child.unref()
      ;(child as unknown as { channel?: { unref?: () => void } }).channel?.unref?.()
      return started
    }

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closing = true
        const current = writer
        writer = undefined
        if (current === undefined) return
        // Disconnected, the writer ends its streams cleanly and exits (sseWriterProcess.ts).
        if (current.child.connected) current.child.disconnect()
        else current.child.kill()
        setTimeout(() => current.child.kill("SIGKILL"), 5_000).unref()
      })
    )

    const open = (res: ServerResponse, headers: Readonly<Record<string, string>>): Effect.Effect<OpenedSink> =>
      Effect.gen(function*() {
        const current = writer ?? (writer = start())
        const up = current !== undefined && (yield* Deferred.await(current.ready))
        const socket = res.socket
        const handle = (socket as unknown as { _handle?: unknown } | null)?._handle
        if (!up || socket === null || handle === undefined || handle === null) {
          return { sink: responseSink(res, headers), release: Effect.void }
        }
        res.writeHead(200, headers)
        res.flushHeaders()
        // The head must be in the kernel's buffer before the writer writes after it.
        if (socket.writableLength > 0) yield* Effect.async<void>((resume) => void socket.once("drain", () => resume(Effect.void)))
        const chunked = (res as unknown as { readonly chunkedEncoding?: boolean }).chunkedEncoding === true
        const h: Handed = { id: nextId++, res, socket, full: false, over: false, drained: undefined, lastOp: -1, round: -1 }
        current!.handed.set(h.id, h)
        // This process keeps its copy of the socket (the writer gets another descriptor of it):
        // reading it is how the server sees the client go, and nothing more is written to it.
        current!.child.send({ t: "open", id: h.id, chunked }, handle as never)
        const letGo = () => {
          current!.handed.delete(h.id)
          // Marked ended with no bytes: the socket is closed here first, so `end` writes nothing.
          socket.destroy()
          if (!res.writableEnded) res.end()
        }
        const sink: SseSink = {
          write: (text) => {
            if (h.over || text === "") return true
            queueWrite(h, text)
            return !h.full
          },
          onDrain: (resume) => {
            h.drained = resume
          },
          end: () => {
            if (h.over) return
            h.over = true
            push({ t: "end", id: h.id, text: "" })
            letGo()
          },
          onClose: (closed) =>
            void res.once("close", () => {
              if (!res.writableEnded) res.end()
              closed()
            }),
          destroy: () => {
            if (!h.over) push({ t: "drop", id: h.id })
            h.over = true
            letGo()
          }
        }
        const release = Effect.sync(() => {
          if (!h.over) push({ t: "drop", id: h.id })
          h.over = true
          letGo()
        })
        return { sink, release }
      })

    return { open, flush }
  })
)
