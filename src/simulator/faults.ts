/**
 * Fault injection for v1 API requests.
 *
 * Decisions are deterministic under the seed: every v1 request, in arrival order, draws
 * the same fixed number of values from one seeded stream whether or not a fault fires,
 * so the same settings, seed and request sequence always give the same statuses.
 * Replacing the settings restarts the sequence (counter, stream and burst state).
 *
 * Where each fault applies in the request pipeline (see server.ts):
 *   timeout → proxy 502/503 → routing (404/301) → unauthorizedAfter/forbiddenAfter →
 *   real auth → real throttle → burst429 → 500 → handler (badRecordRate, truncatedRate),
 *   and the latency before any response.
 */
import { Rng } from "./random.js"
import type { Json, RecordData } from "./model.js"

export interface FaultSettings {
  /** Probability per request of each status (500: Plane's JSON error; 502/503: a proxy's HTML page). */
  readonly errorRate?: { readonly "500"?: number; readonly "502"?: number; readonly "503"?: number }
  /** After every `every` requests that were not burst-throttled, the next `count` get 429 with `Retry-After: retryAfter`. */
  readonly burst429?: { readonly every: number; readonly count: number; readonly retryAfter: number }
  /** Delay (ms) added to every response. */
  readonly latencyMs?: number
  /** With probability `rate`, add `ms` more. */
  readonly latencySpikes?: { readonly rate: number; readonly ms: number }
  /** Probability of accepting a request and never answering (held until the simulator closes). */
  readonly timeoutRate?: number
  /** Probability that a 200 response declares its full Content-Length, sends half the body and drops the socket. */
  readonly truncatedRate?: number
  /** Probability per serialised record of sending a broken record (the store keeps the valid one). */
  readonly badRecordRate?: number
  /** After this many requests, every request gets 401 (credentials not provided). */
  readonly unauthorizedAfter?: number
  /** After this many requests, every request gets 403 (token not valid). */
  readonly forbiddenAfter?: number
}

/** What the injector decided for one request. */
export interface RequestFaults {
  /** 1-based arrival number since the settings were last replaced. */
  readonly index: number
  readonly timeout: boolean
  readonly proxyError: 502 | 503 | undefined
  readonly appError: boolean
  readonly authError: 401 | 403 | undefined
  /** `Retry-After` seconds when this request is part of a 429 burst. */
  readonly burstRetryAfter: number | undefined
  readonly truncate: boolean
  readonly delayMs: number
  /** Decides per record whether to corrupt it; undefined when `badRecordRate` is off. */
  readonly corrupt: ((record: RecordData) => RecordData) | undefined
}

export const NO_FAULTS: RequestFaults = {
  index: 0,
  timeout: false,
  proxyError: undefined,
  appError: false,
  authError: undefined,
  burstRetryAfter: undefined,
  truncate: false,
  delayMs: 0,
  corrupt: undefined
}

const rate = (p: number | undefined): number => (typeof p === "number" && Number.isFinite(p) ? Math.min(1, Math.max(0, p)) : 0)

/** Validates untrusted JSON (admin API, CLI) into `FaultSettings`; throws a readable Error. */
export const parseFaultSettings = (input: unknown): FaultSettings => {
  if (input === null || typeof input !== "object" || Array.isArray(input)) throw new Error("faults must be a JSON object")
  const o = input as Record<string, unknown>
  const known = [
    "errorRate",
    "burst429",
    "latencyMs",
    "latencySpikes",
    "timeoutRate",
    "truncatedRate",
    "badRecordRate",
    "unauthorizedAfter",
    "forbiddenAfter",
    "seed"
  ]
  for (const k of Object.keys(o)) if (!known.includes(k)) throw new Error(`unknown fault setting "${k}"`)
  const num = (v: unknown, name: string): number | undefined => {
    if (v === undefined) return undefined
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number`)
    return v
  }
  const obj = (v: unknown, name: string): Record<string, unknown> | undefined => {
    if (v === undefined) return undefined
    if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error(`${name} must be an object`)
    return v as Record<string, unknown>
  }
  const out: {
    -readonly [K in keyof FaultSettings]: FaultSettings[K]
  } = {}
  const er = obj(o.errorRate, "errorRate")
  if (er !== undefined) {
    const e: { "500"?: number; "502"?: number; "503"?: number } = {}
    for (const code of ["500", "502", "503"] as const) {
      const v = num(er[code], `errorRate.${code}`)
      if (v !== undefined) e[code] = v
    }
    for (const k of Object.keys(er)) if (!["500", "502", "503"].includes(k)) throw new Error(`errorRate.${k} is not supported`)
    out.errorRate = e
  }
  const b = obj(o.burst429, "burst429")
  if (b !== undefined) {
    const every = num(b.every, "burst429.every")
    const count = num(b.count, "burst429.count")
    const retryAfter = num(b.retryAfter, "burst429.retryAfter") ?? 1
    if (every === undefined || count === undefined) throw new Error("burst429 needs every and count")
    out.burst429 = { every, count, retryAfter }
  }
  const ls = obj(o.latencySpikes, "latencySpikes")
  if (ls !== undefined) out.latencySpikes = { rate: num(ls.rate, "latencySpikes.rate") ?? 0, ms: num(ls.ms, "latencySpikes.ms") ?? 0 }
  for (const k of ["latencyMs", "timeoutRate", "truncatedRate", "badRecordRate", "unauthorizedAfter", "forbiddenAfter"] as const) {
    const v = num(o[k], k)
    if (v !== undefined) out[k] = v
  }
  return out
}

/** Breaks a record so that a strict schema rejects it (one of three ways, chosen by `rng`). */
export const corruptRecord = (record: RecordData, rng: Rng): RecordData => {
  const kinds: Array<"name" | "updated_at" | "id"> = []
  if ("name" in record) kinds.push("name")
  if ("updated_at" in record) kinds.push("updated_at")
  if ("id" in record) kinds.push("id")
  const copy: Record<string, Json> = { ...record }
  if (kinds.length === 0) {
    copy.id = 0
    return copy
  }
  switch (rng.pick(kinds)) {
    case "name":
      copy.name = 1000 + rng.int(9000)
      break
    case "updated_at":
      copy.updated_at = "not-a-date"
      break
    case "id":
      delete copy.id
      break
  }
  return copy
}

/** Per-request fault decisions under one seed. */
export class FaultInjector {
  private settingsValue: FaultSettings = {}
  private rng: Rng
  private seedValue: number
  private count = 0
  private okSinceBurst = 0
  private burstLeft = 0

  constructor(settings: FaultSettings = {}, seed = 1) {
    this.seedValue = seed
    this.rng = Rng.from(seed, "faults")
    this.replace(settings)
  }

  get settings(): FaultSettings {
    return this.settingsValue
  }

  get seed(): number {
    return this.seedValue
  }

  /** Replaces the settings and restarts the deterministic sequence. */
  replace(settings: FaultSettings, seed: number = this.seedValue): void {
    this.settingsValue = settings
    this.seedValue = seed
    this.rng = Rng.from(seed, "faults")
    this.count = 0
    this.okSinceBurst = 0
    this.burstLeft = 0
  }

  /** Decides the faults of the next v1 request (call once per request, in arrival order). */
  next(): RequestFaults {
    const s = this.settingsValue
    const index = ++this.count
    // Fixed draws per request keep the sequence aligned whatever fires.
    const rTimeout = this.rng.next()
    const rError = this.rng.next()
    const rSpike = this.rng.next()
    const rTruncate = this.rng.next()
    const recordSeed = this.rng.uint32()

    let errorCode: 500 | 502 | 503 | undefined
    let threshold = 0
    for (const code of [500, 502, 503] as const) {
      threshold += rate(s.errorRate?.[code])
      if (errorCode === undefined && rError < threshold) errorCode = code
    }

    let burstRetryAfter: number | undefined
    if (s.burst429 !== undefined && s.burst429.count > 0 && s.burst429.every >= 0) {
      if (this.burstLeft > 0) {
        this.burstLeft--
        burstRetryAfter = s.burst429.retryAfter
      } else if (++this.okSinceBurst >= s.burst429.every) {
        this.okSinceBurst = 0
        this.burstLeft = s.burst429.count
      }
    }

    const authError =
      s.unauthorizedAfter !== undefined && index > s.unauthorizedAfter
        ? 401
        : s.forbiddenAfter !== undefined && index > s.forbiddenAfter
          ? 403
          : undefined

    const badRate = rate(s.badRecordRate)
    let corrupt: RequestFaults["corrupt"]
    if (badRate > 0) {
      const recordRng = new Rng(recordSeed)
      corrupt = (record) => (recordRng.next() < badRate ? corruptRecord(record, recordRng) : record)
    }

    const spike = s.latencySpikes !== undefined && rSpike < rate(s.latencySpikes.rate) ? s.latencySpikes.ms : 0
    return {
      index,
      timeout: rTimeout < rate(s.timeoutRate),
      proxyError: errorCode === 502 || errorCode === 503 ? errorCode : undefined,
      appError: errorCode === 500,
      authError,
      burstRetryAfter,
      truncate: rTruncate < rate(s.truncatedRate),
      delayMs: Math.max(0, (s.latencyMs ?? 0) + spike),
      corrupt
    }
  }
}

/** A reverse proxy's error page for 502/503, as nginx renders it. */
export const proxyErrorPage = (status: 502 | 503): string => {
  const title = status === 502 ? "502 Bad Gateway" : "503 Service Temporarily Unavailable"
  return [
    "<html>",
    `<head><title>${title}</title></head>`,
    "<body>",
    `<center><h1>${title}</h1></center>`,
    "<hr><center>nginx</center>",
    "</body>",
    "</html>",
    ""
  ].join("\r\n")
}
