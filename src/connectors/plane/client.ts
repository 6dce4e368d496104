import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Metric, Option, Redacted } from "effect"
import {
  type CurrentApiKey,
  RequestObserver,
  SourceAuthFailed,
  type SourceError,
  SourceForbidden,
  SourceRejected,
  SourceUnavailable,
  type WaitReason,
  waitToSend
} from "../Connector.js"
import * as M from "../../metrics/metrics.js"
import { RateLimiter } from "../RateLimiter.js"
import { type NextAttempt, type RequestPolicy, retrying, Transient } from "../retryPolicy.js"
import { isoAt } from "../../domain/time.js"

export interface PlaneSettings {
  readonly integrationId: string
  readonly baseUrl: string
  readonly workspaceSlug: string
  readonly apiKey: Redacted.Redacted<string>
  /** Named in auth errors, so the operator knows which variable to fix. */
  readonly apiKeyEnv: string
  /** Where the key came from, named in auth errors (default: the environment variable `apiKeyEnv`). */
  readonly apiKeySource?: string | undefined
  /**
   * When given, read before every request instead of `apiKey` (a rotated key applies from the
   * next request); it should answer from memory. It fails when the key is gone.
   */
  readonly currentApiKey?: Effect.Effect<CurrentApiKey, SourceError> | undefined
  /** The budget's ceiling; null follows the source (see RateLimiter). */
  readonly requestsPerMinute: number | null
}

export interface Reply {
  readonly status: number
  readonly body: unknown
}

export const detailOf = (body: unknown): string | undefined => {
  if (typeof body !== "object" || body === null) return undefined
  const b = body as Record<string, unknown>
  const d = b.detail ?? b.error ?? b.error_message
  return typeof d === "string" ? d : undefined
}

/** A bounded label: 2xx, 3xx, 4xx, 429 (it matters apart) or 5xx. */
const statusClass = (status: number) => (status === 429 ? "429" : `${Math.floor(status / 100)}xx`)

const parseHeaderInt = (value: string | undefined): number | null => {
  if (value === undefined) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}

/** A 401, or a 403 about the token itself (plane-api.md §1): the key is refused, not the resource. */
export const refusesKey = (reply: Reply) => {
  const detail = detailOf(reply.body)
  return reply.status === 401 || (reply.status === 403 && (detail === undefined || /token/i.test(detail)))
}

/**
 * Plane's HTTP client: `X-API-Key` read per request, the integration's request budget, a
 * timeout, metrics, and retries of transient trouble (5xx, timeouts, resets, unparsable
 * bodies, 429s) by the integration's retry policy (retryPolicy.ts).
 */
export const makePlaneClient = (settings: PlaneSettings, policy: RequestPolicy) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const limiter = yield* RateLimiter
    const fixedKey: CurrentApiKey = {
      key: settings.apiKey,
      source: settings.apiKeySource ?? `environment variable ${settings.apiKeyEnv}`
    }
    const currentKey = settings.currentApiKey ?? Effect.succeed(fixedKey)
    // Where the key of the latest request came from, for the message of a refused key.
    let keySource = fixedKey.source

    const labels = { integration: settings.integrationId }
    const requestCounters = new Map<string, Metric.Metric.Counter<number>>()
    const requestsOf = (statusClass: string) => {
      let counter = requestCounters.get(statusClass)
      if (counter === undefined) {
        counter = M.labelled(M.sourceRequests, { ...labels, status_class: statusClass })
        requestCounters.set(statusClass, counter)
      }
      return counter
    }
    const latency = M.labelled(M.sourceRequestDuration, labels)
    const retries = M.labelled(M.sourceRetries, labels)
    const waits = M.labelled(M.rateLimitWaits, labels)
    const waitSeconds = M.labelled(M.rateLimitWaitSeconds, labels)

    /** Every wait before a send, counted (budget and Retry-After waits) and then waited. */
    const waitCounted = (reason: WaitReason, untilMs: number, detail: string) =>
      Effect.gen(function*() {
        if (reason !== "backoff") {
          const now = yield* Clock.currentTimeMillis
          yield* Metric.increment(waits)
          yield* Metric.incrementBy(waitSeconds, Math.max(0, untilMs - now) / 1000)
        }
        yield* waitToSend(reason, untilMs, detail)
      })

    /** One HTTP exchange: rate-limited, timed out, body parsed. Transient troubles fail as `Transient`. */
    const exchange = (url: string, params: Record<string, string>) =>
      Effect.gen(function*() {
        const slot = yield* limiter.acquire(settings.integrationId, settings.requestsPerMinute, waitCounted)
        // Read per request (after any wait for the budget): a rotated key applies from the next one.
        const apiKey = yield* currentKey.pipe(Effect.onError(() => limiter.done(slot)))
        keySource = apiKey.source
        const sentAt = yield* Clock.currentTimeMillis
        const request = HttpClientRequest.get(url).pipe(
          HttpClientRequest.setHeaders({ "X-API-Key": Redacted.value(apiKey.key), accept: "application/json" }),
          HttpClientRequest.setUrlParams(params)
        )
        const outcome = yield* http.execute(request).pipe(
          Effect.flatMap((response) =>
            Effect.map(response.text, (text) => ({ status: response.status, headers: response.headers, text }))
          ),
          Effect.timeoutFail({
            duration: policy.requestTimeout,
            onTimeout: () => new Transient(`no answer within ${Duration.format(policy.requestTimeout)}`)
          }),
          Effect.catchTags({
            RequestError: (e) => Effect.fail(new Transient(`connection failed (${e.reason}): ${e.cause ?? e.message}`)),
            ResponseError: (e) => Effect.fail(new Transient(`response broken off (${e.reason})`))
          }),
          Effect.either,
          Effect.ensuring(limiter.done(slot))
        )
        yield* Metric.update(latency, ((yield* Clock.currentTimeMillis) - sentAt) / 1000)
        yield* Metric.increment(requestsOf(outcome._tag === "Left" ? "error" : statusClass(outcome.right.status)))
        if (outcome._tag === "Left") return yield* Effect.fail(outcome.left)
        const { headers, status, text } = outcome.right
        if (status === 429) {
          const retryAfter = parseHeaderInt(headers["retry-after"]) ?? 60
          return yield* Effect.fail(new Transient("rate limited by Plane (429)", retryAfter * 1000))
        }
        yield* limiter.observe(
          settings.integrationId,
          slot,
          parseHeaderInt(headers["x-ratelimit-remaining"]),
          parseHeaderInt(headers["x-ratelimit-reset"])
        )
        if (status >= 500) return yield* Effect.fail(new Transient(`Plane answered ${status}`))
        let body: unknown
        try {
          body = text === "" ? null : JSON.parse(text)
        } catch {
          if (status < 300) return yield* Effect.fail(new Transient(`unparsable JSON body (${text.length} bytes)`))
          return { status, body: text } satisfies Reply
        }
        return { status, body } satisfies Reply
      })

    /**
     * Before the next attempt. A 429's delay (its Retry-After) holds back every request of the
     * integration (the limiter's block) and moves the job's ETA; this request waits it out in
     * its next `acquire`, in one wait with the budget, like every other request. Any other
     * failure waits its backoff here, logged as a retry.
     */
    const beforeRetry = ({ attempt, delayMs, failure }: NextAttempt) =>
      Effect.gen(function*() {
        const observer = yield* Effect.serviceOption(RequestObserver)
        const until = (yield* Clock.currentTimeMillis) + delayMs
        if (failure.retryAfterMs !== undefined) {
          yield* limiter.block(settings.integrationId, until)
          if (Option.isSome(observer)) {
            yield* observer.value.throttled(
              delayMs,
              `${failure.reason}; waiting ${Math.ceil(delayMs / 1000)} s as Retry-After asks, until ${isoAt(until)}`,
              until
            )
          }
          return
        }
        yield* Metric.increment(retries)
        if (Option.isSome(observer)) yield* observer.value.retrying(failure.reason, attempt, delayMs, until)
        yield* waitToSend("backoff", until, `backoff before retry ${attempt} (${failure.reason})`)
      })

    const giveUp = ({ attempt, failure }: NextAttempt) =>
      new SourceUnavailable({
        message: failure.retryAfterMs !== undefined
          ? `Plane kept answering 429 (rate limited) after ${policy.maxRateLimitWaits} waits`
          : `Plane request failed ${attempt} times, last: ${failure.reason}`
      })

    const retried = retrying(policy, beforeRetry, giveUp)

    /** A GET and its JSON answer, transient failures retried by the integration's policy. */
    const getJson = (url: string, params: Record<string, string>): Effect.Effect<Reply, SourceError> =>
      retried(exchange(url, params))

    const authFailed = (status: number, detail: string | undefined) =>
      new SourceAuthFailed({
        status,
        message: `Plane refused the API key (${status}${detail ? `: ${detail}` : ""}). Check the API key in ${keySource}.`
      })

    /** Maps the 4xx answers every call shares; 404 is left to the caller. */
    const checkStatus = (reply: Reply): Effect.Effect<Reply, SourceError> => {
      const detail = detailOf(reply.body)
      if (refusesKey(reply)) return Effect.fail(authFailed(reply.status, detail))
      if (reply.status === 403) {
        return Effect.fail(new SourceForbidden({ scope: "project", message: `Plane denied access (403: ${detail})` }))
      }
      if (reply.status >= 400 && reply.status !== 404) {
        return Effect.fail(
          new SourceRejected({ status: reply.status, message: `Plane rejected the request (${reply.status}${detail ? `: ${detail}` : ""})` })
        )
      }
      return Effect.succeed(reply)
    }

    return { getJson, checkStatus } as const
  })

export type PlaneClient = Effect.Effect.Success<ReturnType<typeof makePlaneClient>>
