import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Option, Redacted } from "effect"
import { Secrets } from "../config/Settings.js"
import type { NotificationEndpointConfig } from "./config.js"
import { formatBody } from "./format.js"
import type { Notification } from "./notifications.js"
import { signatureHeaders } from "./signature.js"

/** The outcome of one POST to a receiver. Reasons never carry the URL or a secret. */
export type Attempt =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly status: number | null; readonly reason: string }

const TRANSPORT_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ETIMEDOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed by the receiver",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out"
}

/** A short reason from an error's `code` (its message may name the URL, so it is not used). */
const transportReason = (cause: unknown): string => {
  for (let e = cause, depth = 0; typeof e === "object" && e !== null && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === "string") return TRANSPORT_CODES[code] ?? `request failed (${code})`
    e = (e as { cause?: unknown }).cause
  }
  return "request failed"
}

/** A little of the receiver's answer (e.g. "invalid signature"), on one line. */
const snippet = (text: string) => {
  const line = text.replace(/\s+/g, " ").trim().slice(0, 120)
  return line === "" ? "" : `: ${line}`
}

/**
 * The URL without user info; `user:password@` becomes a Basic `Authorization` header, which is
 * what such a URL means to a browser or curl (HTTP clients reject credentials in the URL).
 */
const target = (raw: string) => {
  const url = new URL(raw)
  if (url.username === "" && url.password === "") return { url: raw, headers: {} }
  const credentials = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`
  url.username = ""
  url.password = ""
  return { url: url.toString(), headers: { authorization: `Basic ${Buffer.from(credentials).toString("base64")}` } }
}

/**
 * One delivery attempt: the body in the endpoint's format, `X-Synclog-Delivery` and
 * `X-Synclog-Event`, the signature headers when the endpoint has a secret, and the endpoint's
 * timeout. 2xx is delivered; anything else, a timeout or a transport error is a failure.
 */
export const deliverOnce = (endpoint: NotificationEndpointConfig, notification: Notification) =>
  Effect.gen(function*() {
    const http = yield* HttpClient.HttpClient
    const secrets = yield* Secrets
    const body = formatBody(notification, endpoint.format)
    let signed = {}
    if (endpoint.secretEnv !== undefined) {
      const secret = yield* secrets.get(endpoint.secretEnv)
      if (Option.isNone(secret)) {
        return {
          ok: false,
          status: null,
          reason: `the signing secret is missing: environment variable ${endpoint.secretEnv} is not set`
        } satisfies Attempt
      }
      const seconds = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      signed = signatureHeaders(Redacted.value(secret.value), seconds, body)
    }
    const { headers: auth, url } = target(endpoint.url)
    const request = HttpClientRequest.post(url).pipe(
      HttpClientRequest.setHeaders({
        ...auth,
        ...signed,
        "user-agent": "synclog-webhooks",
        "x-synclog-delivery": notification.id,
        "x-synclog-event": notification.event
      }),
      HttpClientRequest.bodyText(body, "application/json")
    )
    const timeout = Duration.seconds(endpoint.timeout)
    return yield* http.execute(request).pipe(
      Effect.flatMap((response) =>
        Effect.map(response.text, (text): Attempt =>
          response.status >= 200 && response.status < 300
            ? { ok: true, status: response.status }
            : { ok: false, status: response.status, reason: `the receiver answered ${response.status}${snippet(text)}` })
      ),
      Effect.timeoutFail({ duration: timeout, onTimeout: () => `no answer within ${Duration.format(timeout)}` }),
      Effect.catchAll((e): Effect.Effect<Attempt> =>
        Effect.succeed({
          ok: false,
          status: null,
          reason: typeof e === "string"
            ? e
            : e._tag === "RequestError"
            ? transportReason(e.cause)
            : `the answer broke off (${transportReason(e.cause)})`
        })
      )
    )
  })
