import { Context, Schema } from "effect"
import { createHash } from "node:crypto"
import { IntegrationId } from "../domain/ids.js"

/** What an endpoint can subscribe to (`test` is sent on request only, never from the log). */
const NOTIFICATION_EVENTS = [
  "job.failed",
  "job.completed",
  "job.stopped",
  "circuit.opened",
  "circuit.closed",
  "integration.recovered"
] as const
export type NotificationEvent = typeof NOTIFICATION_EVENTS[number]

/** Failures and circuit changes: what most people want to be woken up for. */
const DEFAULT_EVENTS: ReadonlyArray<NotificationEvent> = ["job.failed", "circuit.opened", "circuit.closed"]

const EventName = Schema.String.pipe(
  Schema.filter((s) =>
    (NOTIFICATION_EVENTS as ReadonlyArray<string>).includes(s) ||
    `unknown event '${s}'; valid: ${NOTIFICATION_EVENTS.join(", ")}`
  ),
  Schema.compose(Schema.Literal(...NOTIFICATION_EVENTS), { strict: false })
)

/** An absolute http(s) URL with a host (what `new URL` accepts, not just what looks like one). */
const WebhookUrl = Schema.String.pipe(
  Schema.filter((s) => {
    try {
      const url = new URL(s)
      return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== ""
    } catch {
      return false
    }
  }, { message: () => "expected an http(s) URL such as https://hooks.example.com/synclog" })
)

const EndpointId = Schema.String.pipe(
  Schema.pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, {
    message: () => "an endpoint id is 1 to 64 letters, digits, '.', '_' or '-'"
  })
)

const Seconds = (min: number, max: number) =>
  Schema.Number.pipe(Schema.between(min, max, { message: () => `expected seconds between ${min} and ${max}` }))

const Retry = Schema.Struct({
  /** The first retry waits about this long; each next one twice as long. */
  baseDelay: Schema.optionalWith(Seconds(0.001, 3600), { default: () => 1 }),
  maxDelay: Schema.optionalWith(Seconds(0.001, 86_400), { default: () => 600 }),
  /** A delivery still failing this long after its first failure is given up. */
  giveUpAfter: Schema.optionalWith(Seconds(0, 30 * 86_400), { default: () => 86_400 })
})

export const NotificationEndpointConfig = Schema.Struct({
  id: Schema.optionalWith(EndpointId, { exact: true }),
  url: WebhookUrl,
  events: Schema.optionalWith(
    Schema.Array(EventName).pipe(Schema.minItems(1, { message: () => "list at least one event (or leave events out)" })),
    { default: () => DEFAULT_EVENTS }
  ),
  integrationIds: Schema.optionalWith(Schema.Array(IntegrationId), { exact: true }),
  secretEnv: Schema.optionalWith(
    Schema.String.pipe(
      Schema.pattern(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: () => "expected the NAME of an environment variable" })
    ),
    { exact: true }
  ),
  format: Schema.optionalWith(Schema.Literal("json", "slack"), { default: () => "json" as const }),
  /** Seconds a receiver has to answer a delivery. */
  timeout: Schema.optionalWith(Seconds(0.001, 300), { default: () => 10 }),
  retry: Schema.optionalWith(Retry, { default: () => Schema.decodeSync(Retry)({}) })
})
export type NotificationEndpointConfig = typeof NotificationEndpointConfig.Type

/** The config file's `notifications` list; two endpoints may not share an id. */
export const NotificationsConfig = Schema.Array(NotificationEndpointConfig).pipe(
  Schema.filter((list) => {
    const seen = new Set<string>()
    for (const [i, endpoint] of list.entries()) {
      const id = endpointId(endpoint)
      if (seen.has(id)) {
        return {
          path: [i, "id"],
          message: endpoint.id === undefined
            ? `this endpoint has the same URL as an earlier one; give each an 'id'`
            : `duplicate endpoint id '${id}'`
        }
      }
      seen.add(id)
    }
    return true
  })
)
export type NotificationsConfig = typeof NotificationsConfig.Type

/** The endpoints of the config file (none in demo mode), fixed for the life of the process. */
export class NotificationSettings
  extends Context.Tag("synclog/NotificationSettings")<NotificationSettings, ReadonlyArray<NotificationEndpointConfig>>()
{}

/**
 * An endpoint's stable id: `id` from the config, else derived from the whole URL. Its delivery
 * checkpoint is stored under this id, so a changed URL without an `id` is a new endpoint.
 */
export const endpointId = (endpoint: Pick<NotificationEndpointConfig, "id" | "url">): string =>
  endpoint.id ?? `url-${createHash("sha256").update(endpoint.url).digest("hex").slice(0, 12)}`

/**
 * The URL as responses and logs may show it: user info, every query value and long path
 * segments (tokens such as Slack's `/services/T…/B…/<secret>`) become `***`.
 */
export const maskUrl = (raw: string): string => {
  const url = new URL(raw)
  const auth = url.username !== "" || url.password !== "" ? "***@" : ""
  const path = url.pathname.split("/").map((segment) => (segment.length >= 16 ? "***" : segment)).join("/")
  const query = [...url.searchParams.keys()].map((key) => `${encodeURIComponent(key)}=***`).join("&")
  return `${url.protocol}//${auth}${url.host}${path}${query === "" ? "" : `?${query}`}`
}
