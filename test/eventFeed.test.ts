import { SqlClient } from "@effect/sql"
import { Chunk, Effect, Fiber, Layer, Option, Stream, TestClock } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { it as effectIt } from "@effect/vitest"
import { SystemInitialized } from "../src/domain/events.js"
import * as Database from "../src/eventlog/Database.js"
import { EventFeed, type FeedItem } from "../src/eventlog/EventFeed.js"
import { EventStore } from "../src/eventlog/EventStore.js"
import type { StoredEvent } from "../src/eventlog/EventStore.js"
import { HEARTBEAT_SECONDS, makeHeartbeats, sseBody, sseEvent } from "../src/http/StreamsHttp.js"
import { pumpSse, responseSink, type SseSink } from "../src/http/sseConnection.js"
import { createServer } from "node:http"
import { type AddressInfo, connect } from "node:net"
import { tempDir } from "./support/app.js"

/** The live feed over a real SQLite file: exact resumption, and a slow follower cut off alone. */
const tmp = tempDir()
afterAll(() => tmp.remove())

const layer = EventFeed.Default.pipe(Layer.provideMerge(EventStore.Default), Layer.provideMerge(Database.layer(tmp.dbPath)))

const append = (n: number) =>
  Effect.flatMap(EventStore, (store) =>
    Effect.forEach(
      Array.from({ length: n }),
      () => store.appendSystem([new SystemInitialized({ integrationsFound: 0, at: new Date().toISOString() })]),
      { discard: true }
    ))

const positions = (items: ReadonlyArray<FeedItem>) => items.flatMap((i) => (i._tag === "Event" ? [i.event.position] : []))

/** Lets the tailer and the forwarders run (they are real fibers reading SQLite). */
const settle = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))

describe("EventFeed", () => {
  it("replays from a position, then follows live, with no gap and no duplicate", async () => {
    const result = await Effect.gen(function*() {
      const feed = yield* EventFeed
      yield* append(5)
      const fiber = yield* feed.follow(2).pipe(Stream.take(10), Stream.runCollect, Effect.fork)
      yield* settle
      yield* append(7)
      return Chunk.toReadonlyArray(yield* Fiber.join(fiber))
    }).pipe(Effect.provide(layer), Effect.runPromise)
    expect(positions(result)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
  })

  it("cuts off a follower that stops reading, without holding up another; it resumes from its last position", async () => {
    const result = await Effect.gen(function*() {
      const feed = yield* EventFeed
      const start = yield* feed.position
      // The slow follower takes one event and then reads nothing while 30 more are appended.
      const slow = yield* Stream.toPull(feed.follow(start, 5))
      const fast = yield* feed.follow(start, 5).pipe(Stream.take(31), Stream.runCollect, Effect.fork)
      yield* settle
      yield* append(1)
      const firstChunk = yield* slow
      for (let i = 0; i < 30; i++) {
        yield* append(1)
        yield* Effect.yieldNow()
      }
      yield* settle
      const rest: Array<FeedItem> = [...firstChunk]
      while (true) {
        const next = yield* Effect.option(slow)
        if (Option.isNone(next)) break
        rest.push(...next.value)
      }
      const overflow = rest.at(-1)
      const lastPosition = overflow?._tag === "Overflow" ? overflow.lastPosition : -1
      const resumed = yield* feed.follow(lastPosition).pipe(Stream.takeWhile((i) => i._tag === "Event" && i.event.position <= start + 31), Stream.take(start + 31 - lastPosition), Stream.runCollect)
      return { start, rest, overflow, lastPosition, fast: Chunk.toReadonlyArray(yield* Fiber.join(fast)), resumed: Chunk.toReadonlyArray(resumed) }
    }).pipe(Effect.scoped, Effect.provide(layer), Effect.runPromise)
    const all = Array.from({ length: 31 }, (_, i) => result.start + 1 + i)
    // The fast follower got everything although the slow one stopped reading.
    expect(positions(result.fast)).toEqual(all)
    // The slow one was told it fell behind, after a bounded number of events...
    expect(result.overflow?._tag).toBe("Overflow")
    const delivered = positions(result.rest)
    expect(delivered.length).toBeLessThanOrEqual(6)
    expect(delivered).toEqual(all.slice(0, delivered.length))
    expect(result.lastPosition).toBe(delivered.at(-1))
    // ...and resuming from its last position yields the rest, exactly.
    expect([...delivered, ...positions(result.resumed)]).toEqual(all)
  })

  it("hands a committed event to its followers within the append itself, not when the tailer next runs", async () => {
    const result = await Effect.gen(function*() {
      const feed = yield* EventFeed
      const store = yield* EventStore
      const opened = yield* feed.open(yield* feed.position)
      // Caught up (the log read once), so from here on it is fed live.
      expect(yield* opened.cursor.step).toBeNull()
      let dispatched = 0
      const remove = feed.onDispatched(() => dispatched++)
      // No yield between the append's commit and the look: the tailer fiber had no turn.
      const seen = yield* store.appendSystem([new SystemInitialized({ integrationsFound: 1, at: new Date().toISOString() })]).pipe(
        Effect.zipRight(Effect.sync(() => ({ live: opened.cursor.takeLive(), dispatched })))
      )
      remove()
      yield* opened.close
      return seen
    }).pipe(Effect.provide(layer), Effect.runPromise)
    expect(result.live?.events.map((e) => e.type)).toEqual(["SystemInitialized"])
    expect(result.dispatched).toBe(1)
  })

  it("delivers appends made inside a larger transaction once it commits, without waiting for another append", async () => {
    const result = await Effect.gen(function*() {
      const feed = yield* EventFeed
      const sql = yield* SqlClient.SqlClient
      const start = yield* feed.position
      const fiber = yield* feed.follow(start).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* settle
      // Two appends in one outer transaction that is not the store's own (each append a savepoint).
      yield* Effect.zipRight(append(1), append(1)).pipe(sql.withTransaction)
      // Nothing else is appended: the tailer alone must find them after the commit.
      const items = yield* Fiber.join(fiber).pipe(Effect.timeout("5 seconds"))
      return { start, items: Chunk.toReadonlyArray(items) }
    }).pipe(Effect.provide(layer), Effect.runPromise)
    expect(positions(result.items)).toEqual([result.start + 1, result.start + 2])
  })
})

describe("SSE heartbeat", () => {
  effectIt.scoped(`sends a heartbeat comment every ${HEARTBEAT_SECONDS} s while nothing happens`, () =>
    Effect.gen(function*() {
      const fiber = yield* sseBody(Stream.never).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      yield* TestClock.adjust(`${HEARTBEAT_SECONDS * 2} seconds`)
      const out = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      expect(out).toEqual([": heartbeat\n\n", ": heartbeat\n\n", ": heartbeat\n\n"])
    }))
})

describe("SSE body of the global stream", () => {
  effectIt.scoped(`one shared timer: a heartbeat every ${HEARTBEAT_SECONDS} s while nothing happens, events as they come`, () =>
    Effect.gen(function*() {
      const feed = yield* EventFeed
      const heartbeats = yield* makeHeartbeats
      const runtime = yield* Effect.runtime<never>()
      const opened = yield* feed.open(yield* feed.position)
      const forget = heartbeats.add(opened.cursor)
      const render = { now: (events: ReadonlyArray<StoredEvent>) => events.map(sseEvent).join(""), later: () => Effect.succeed("") }
      const texts = { heartbeat: ": heartbeat\n\n", overflow: (n: number) => `event: overflow\ndata: ${n}\n\n` }
      let closed = false
      const out: Array<string> = []
      const sink: SseSink = {
        write: (text) => (out.push(text), true),
        onDrain: () => {},
        end: () => {},
        onClose: () => {},
        destroy: () => {}
      }
      const connection = yield* Effect.acquireUseRelease(
        Effect.void,
        () => pumpSse(sink, opened.cursor, render, texts, runtime),
        () => Effect.zipRight(forget, Effect.zipRight(opened.close, Effect.sync(() => void (closed = true))))
      ).pipe(Effect.fork)
      const realWait = Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 100)))
      yield* realWait
      expect(out).toEqual([": heartbeat\n\n"]) // at once: the headers go out
      yield* TestClock.adjust(`${HEARTBEAT_SECONDS} seconds`)
      yield* realWait
      expect(out).toHaveLength(2)
      yield* append(1)
      // The tailer reads SQLite on real fibers: give it a moment of real time.
      yield* realWait
      expect(out[2]).toMatch(/^id: \d+\nevent: SystemInitialized\ndata: /)
      yield* TestClock.adjust(`${HEARTBEAT_SECONDS} seconds`)
      yield* realWait
      expect(out.slice(1)).toEqual([": heartbeat\n\n", out[2], ": heartbeat\n\n"])
      // A client that goes away (the server interrupts its fiber) closes its cursor.
      yield* Fiber.interrupt(connection)
      yield* realWait
      expect(closed).toBe(true)
    }).pipe(Effect.provide(layer)))
})

describe("SSE connection", () => {
  it("stops writing while the receiver is full, and cuts the client off with its last position when the feed overflows", async () => {
    const result = await Effect.gen(function*() {
      const feed = yield* EventFeed
      const runtime = yield* Effect.runtime<never>()
      const start = yield* feed.position
      const opened = yield* feed.open(start, 5)
      const out: Array<string> = []
      let drain: (() => void) | undefined
      // A receiver whose buffers fill at the second write: nothing more is written until it drains.
      const sink: SseSink = {
        write: (text) => (out.push(text), out.length < 2),
        onDrain: (resume) => void (drain = resume),
        end: () => void out.push("<end>"),
        onClose: () => {},
        destroy: () => {}
      }
      const render = { now: (events: ReadonlyArray<StoredEvent>) => events.map(sseEvent).join(""), later: () => Effect.succeed("") }
      const texts = { heartbeat: ": heartbeat\n\n", overflow: (n: number) => `event: overflow\ndata: ${n}\n\n` }
      const pumping = yield* pumpSse(sink, opened.cursor, render, texts, runtime).pipe(Effect.ensuring(opened.close), Effect.fork)
      yield* settle
      yield* append(1)
      yield* settle
      const whileFull = [...out]
      // Past the follower's buffer of 5 while nothing is read: the feed cuts it off.
      yield* append(8)
      yield* settle
      const beforeDrain = out.length
      drain?.()
      yield* Fiber.join(pumping)
      return { whileFull, beforeDrain, out, start }
    }).pipe(Effect.provide(layer), Effect.runPromise)
    expect(result.whileFull).toHaveLength(2) // the heartbeat, then the first event filled it
    expect(result.whileFull[1]).toMatch(new RegExp(`^id: ${result.start + 1}\\n`))
    expect(result.beforeDrain).toBe(2)
    // After the drain: the overflow message names the last position it got, then the end.
    expect(result.out.slice(2)).toEqual([`event: overflow\ndata: ${result.start + 1}\n\n`, "<end>"])
  })

  it("frames messages as HTTP/1.1 chunks on the socket, and as plain bytes for HTTP/1.0", async () => {
    const texts = ["id: 1\nevent: A\ndata: {}\n\n", "id: 2\nevent: B\ndata: {\"é\":1}\n\n"]
    const server = createServer((_req, res) => {
      const sink = responseSink(res, { "content-type": "text/event-stream" })
      for (const text of texts) sink.write(text)
      sink.end()
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    const { port } = server.address() as AddressInfo
    const raw = (version: string) =>
      new Promise<string>((resolve, reject) => {
        const chunks: Array<Buffer> = []
        const socket = connect(port, "127.0.0.1", () => socket.write(`GET / HTTP/${version}\r\nHost: x\r\nConnection: close\r\n\r\n`))
        socket.on("data", (c) => chunks.push(c))
        socket.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
        socket.on("error", reject)
      })
    try {
      const http11 = await raw("1.1")
      const body11 = http11.slice(http11.indexOf("\r\n\r\n") + 4)
      const chunk = (t: string) => `${Buffer.byteLength(t).toString(16)}\r\n${t}\r\n`
      expect(http11).toMatch(/transfer-encoding: chunked/i)
      expect(body11).toBe(texts.map(chunk).join("") + "0\r\n\r\n")
      const http10 = await raw("1.0")
      expect(http10.slice(http10.indexOf("\r\n\r\n") + 4)).toBe(texts.join(""))
    } finally {
      server.close()
    }
  })
})
