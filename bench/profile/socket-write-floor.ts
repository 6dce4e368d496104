/**
 * Attribution experiment (not part of `npm run bench`): the least CPU the streams suite's fan-out
 * can add on this machine. The fan-out writes each of ~202 events to 1,000 loopback TCP
 * connections and the load process reads them all: 202,000 writes and as many reads, whatever
 * the server does around them. Here one process writes a 300-byte message (an SSE event's size)
 * to 1,000 connections per round, 5 ms between rounds, and a C reader (epoll, read(2)) drains
 * them; the writer is either
 *   node   a Node process writing one shared Buffer with net.Socket.write (as the SSE writer
 *          process, src/http/sseWriterProcess.ts, does), or
 *   c      a C program calling write(2) (the floor: nothing but the system call).
 * Prints each run's CPU per write and per message read, and what 202,000 of each cost.
 *
 *   node --import tsx bench/profile/socket-write-floor.ts [rounds=200] [connections=1000]
 *   node --import tsx bench/profile/socket-write-floor.ts write-node <port> <rounds> <size> <gapUs> <connections>
 */
import { spawn, spawnSync } from "node:child_process"
import { createServer, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { freePort } from "../lib/proc.js"

const SIZE = 300
const GAP_US = 5_000
/** Events of the streams suite's 100k sync (BENCHMARKS.md, "Live streams"). */
const SUITE_EVENTS = 202

/** The Node writer (a child process of the experiment). */
const writeNode = (port: number, rounds: number, size: number, gapUs: number, connections: number) => {
  const sockets: Array<Socket> = []
  const message = Buffer.alloc(size, "x")
  const server = createServer((socket) => {
    socket.setNoDelay(true)
    sockets.push(socket)
    if (sockets.length === connections) run()
  })
  server.listen(port, "127.0.0.1", () => console.log(JSON.stringify({ type: "listening" })))
  const run = () => {
    const start = process.cpuUsage()
    let round = 0
    const tick = () => {
      for (const socket of sockets) socket.write(message)
      if (++round < rounds) return void setTimeout(tick, gapUs / 1000)
      const used = process.cpuUsage(start)
      console.log(JSON.stringify({ cpuUs: used.user + used.system }))
      process.exit(0)
    }
    tick()
  }
}

/** A process's JSON lines: resolves `listening` at the first, `done` at the last. */
const lines = (child: ReturnType<typeof spawn>) => {
  const all: Array<Record<string, number | string>> = []
  let onFirst: () => void = () => {}
  const listening = new Promise<void>((resolve) => (onFirst = resolve))
  createInterface({ input: child.stdout! }).on("line", (line) => {
    all.push(JSON.parse(line))
    if (all.length === 1) onFirst()
  })
  const done = new Promise<Record<string, number | string>>((resolve, reject) =>
    child.on("exit", (code) => (code === 0 ? resolve(all[all.length - 1]!) : reject(new Error(`exited with ${code}`))))
  )
  return { listening, done }
}

const measure = async (binary: string, kind: "node" | "c", rounds: number, connections: number) => {
  const port = await freePort()
  const args = [String(port), String(rounds), String(SIZE), String(GAP_US)]
  const writer = kind === "c"
    ? spawn(binary, ["write", ...args], { stdio: ["pipe", "pipe", "inherit"] })
    : spawn(process.execPath, ["--import", "tsx", new URL(import.meta.url).pathname, "write-node", ...args, String(connections)], {
      stdio: ["pipe", "pipe", "inherit"]
    })
  writer.stdin!.end(`${connections}\n`)
  const written = lines(writer)
  await written.listening
  const reader = spawn(binary, ["read", String(port), String(connections), String(rounds * connections * SIZE)], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  const [w, r] = await Promise.all([written.done, lines(reader).done])
  const messages = rounds * connections
  return { kind, writeUs: Number(w.cpuUs) / messages, readUs: Number(r.cpuUs) / messages, reads: Number(r.reads) }
}

const main = async (rounds: number, connections: number) => {
  const binary = join(tmpdir(), "synclog-socket-write-floor")
  const source = new URL("./socket-write-floor.c", import.meta.url).pathname
  if (spawnSync("cc", ["-O2", "-o", binary, source], { stdio: "inherit" }).status !== 0) throw new Error("cc failed")
  const runs = []
  for (let i = 0; i < 2; i++) for (const kind of ["node", "c"] as const) runs.push(await measure(binary, kind, rounds, connections))
  const clients = 1000
  for (const run of runs) {
    const suiteMs = (SUITE_EVENTS * clients * (run.writeUs + run.readUs)) / 1000
    console.log(
      `${run.kind.padEnd(4)} writer: ${run.writeUs.toFixed(2)} µs per write; C reader: ${run.readUs.toFixed(2)} µs per message ` +
        `(${run.reads} reads); ${SUITE_EVENTS} events x ${clients} clients: ${Math.round(suiteMs)} ms of CPU`
    )
  }
}

const [mode, ...rest] = process.argv.slice(2)
if (mode === "write-node") {
  const [port, rounds, size, gapUs, connections] = rest.map(Number)
  writeNode(port!, rounds!, size!, gapUs!, connections!)
} else {
  await main(Number(mode ?? 200), Number(rest[0] ?? 1000))
}
