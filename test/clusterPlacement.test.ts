import { ConfigProvider, Effect, Either, Option } from "effect"
import { describe, expect, it } from "vitest"
import { formatRunnerAddress, parseRunnerAddress } from "../src/cluster/address.js"
import { Env } from "../src/config/Env.js"
import { adoptionOf } from "../src/engine/Placement.js"

describe("runner addresses (SYNC_RUNNER_ADDRESS, SYNC_RUNNER_LISTEN)", () => {
  it("reads host:port, names and IPv6 included, and writes it back the same", () => {
    for (const [text, host, port] of [
      ["127.0.0.1:7101", "127.0.0.1", 7101],
      ["runner-1.internal:34431", "runner-1.internal", 34431],
      ["[::1]:7102", "::1", 7102],
      [" localhost:1 ", "localhost", 1]
    ] as const) {
      const parsed = parseRunnerAddress(text)
      expect(parsed).toEqual(Either.right({ host, port }))
      expect(formatRunnerAddress(Either.getOrThrow(parsed))).toBe(text.trim())
    }
  })

  it("refuses what is not host:port, saying what is expected", () => {
    for (const text of ["7101", "127.0.0.1", "127.0.0.1:", ":7101", "host:port", "a b:1", "http://host:1", "::1:7101"]) {
      const parsed = parseRunnerAddress(text)
      expect(Either.isLeft(parsed), text).toBe(true)
      expect(Either.getLeft(parsed).pipe((m) => m._tag === "Some" ? m.value : "")).toContain("expected host:port")
    }
    expect(parseRunnerAddress("127.0.0.1:0")).toEqual(Either.left("the port must be from 1 to 65535 (got 0)"))
    expect(parseRunnerAddress("127.0.0.1:70000")).toEqual(Either.left("the port must be from 1 to 65535 (got 70000)"))
  })
})

describe("what a runner does about a live or paused job", () => {
  it("adopts a job of an integration it hosts that no actor of its own runs", () => {
    expect(adoptionOf({ hostedHere: true, actorHere: false, handingOver: false })).toBe("adopt")
  })

  it("hands a run over, once, when its integration moved to another runner", () => {
    expect(adoptionOf({ hostedHere: false, actorHere: true, handingOver: false })).toBe("hand-over")
    expect(adoptionOf({ hostedHere: false, actorHere: true, handingOver: true })).toBe("none")
  })

  it("leaves alone its own runs of integrations it hosts, and jobs hosted elsewhere", () => {
    expect(adoptionOf({ hostedHere: true, actorHere: true, handingOver: false })).toBe("none")
    expect(adoptionOf({ hostedHere: false, actorHere: false, handingOver: false })).toBe("none")
  })
})

describe("a runner's environment", () => {
  const read = (vars: Record<string, string>) =>
    Effect.runSync(Effect.either(Effect.withConfigProvider(Env, ConfigProvider.fromMap(new Map(Object.entries(vars))))))

  it("takes SYNC_RUNNER_ADDRESS and SYNC_RUNNER_LISTEN beside a PostgreSQL URL", () => {
    const env = read({
      SYNC_DATABASE_URL: "postgres://synclog@localhost:5432/synclog",
      SYNC_RUNNER_ADDRESS: "10.0.0.12:7101",
      SYNC_RUNNER_LISTEN: "0.0.0.0:7101"
    })
    expect(Either.isRight(env)).toBe(true)
    const value = Either.getOrThrow(env)
    expect(Option.getOrUndefined(value.runnerAddress)).toEqual({ host: "10.0.0.12", port: 7101 })
    expect(Option.getOrUndefined(value.runnerListen)).toEqual({ host: "0.0.0.0", port: 7101 })
  })

  it("refuses a runner without PostgreSQL, a listen address without a runner address, and a malformed address", () => {
    const message = (vars: Record<string, string>) => {
      const env = read(vars)
      return Either.isLeft(env) ? String(env.left) : "accepted"
    }
    expect(message({ SYNC_RUNNER_ADDRESS: "127.0.0.1:7101" })).toContain(
      "SYNC_RUNNER_ADDRESS is set without SYNC_DATABASE_URL: the runners of a cluster share one PostgreSQL database"
    )
    expect(message({ SYNC_DATABASE_URL: "postgres://h/db", SYNC_RUNNER_LISTEN: "0.0.0.0:7101" })).toContain(
      "SYNC_RUNNER_LISTEN is set without SYNC_RUNNER_ADDRESS"
    )
    expect(message({ SYNC_DATABASE_URL: "postgres://h/db", SYNC_RUNNER_ADDRESS: "7101" })).toContain("expected host:port")
    expect(message({})).toBe("accepted")
  })
})
