import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option, Predicate } from "effect"
import { ENTITY_TYPES } from "../domain/entities.js"
import { apiClient, call, connectionOptions } from "./connection.js"
import { dateTime, json, table } from "./format.js"
import { boundedInteger } from "./jobs.js"

/** A record's human name: Plane's `name` (work items, projects...), else nothing. */
const nameOf = (payload: unknown) => {
  const name = Predicate.hasProperty(payload, "name") && typeof payload.name === "string" ? payload.name : "-"
  return name.length > 60 ? `${name.slice(0, 59)}…` : name
}

const records = Command.make("records", {
  ...connectionOptions,
  integrationId: Args.text({ name: "integrationId" }),
  entity: Options.choice("entity", ENTITY_TYPES).pipe(Options.withDescription("the entity type to read")),
  since: Options.text("since").pipe(
    Options.withDescription("only records the source updated at or after this ISO-8601 time"),
    Options.optional
  ),
  includeDeleted: Options.boolean("include-deleted").pipe(Options.withDescription("show tombstoned records too")),
  limit: boundedInteger("limit", 1, 1000).pipe(Options.withDescription("records per page (1..1000, default 100)"), Options.optional),
  cursor: Options.text("cursor").pipe(Options.withDescription("the nextCursor of the previous page"), Options.optional)
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const page = yield* call(o, api.integrations.records({
      path: { integrationId: o.integrationId },
      urlParams: {
        entity: o.entity,
        ...Option.match(o.since, { onNone: () => ({}), onSome: (updatedSince) => ({ updatedSince }) }),
        ...(o.includeDeleted ? { includeDeleted: true } : {}),
        ...Option.match(o.limit, { onNone: () => ({}), onSome: (limit) => ({ limit }) }),
        ...Option.match(o.cursor, { onNone: () => ({}), onSome: (cursor) => ({ cursor }) })
      }
    }))
    if (o.json) return yield* Console.log(json(page))
    if (page.records.length === 0) return yield* Console.log(`No ${o.entity} records match (${page.total} in all).`)
    yield* Console.log(table(
      ["ID", "NAME", "PROJECT", "UPDATED", "ARCHIVED", "DELETED"],
      page.records.map((r) => [
        r.id,
        nameOf(r.payload),
        r.projectId ?? "-",
        dateTime(r.updatedAt),
        dateTime(r.archivedAt),
        dateTime(r.deletedAt)
      ])
    ))
    yield* Console.log(
      `${page.records.length} of ${page.total} ${o.entity} record(s)` +
        (page.nextCursor !== null ? `; next page: --cursor ${page.nextCursor}` : "")
    )
  })).pipe(Command.withDescription("Read the mirror: one entity type's records, a page at a time"))

export const recordCommands = [records] as const
