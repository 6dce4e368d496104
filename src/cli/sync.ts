import { Args, Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { ENTITY_TYPES, type EntityType, isEntityType } from "../domain/entities.js"
import { apiClient, call, connectionOptions } from "./connection.js"
import { json } from "./format.js"
import { boundedInteger, jobTypeOption } from "./jobs.js"
import { watchJob } from "./watch.js"

/** `--x a,b` or `--x a --x b`: one list. */
const list = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(description),
    Options.repeated,
    Options.map((given) => given.flatMap((g) => g.split(",")).map((p) => p.trim()).filter((p) => p !== ""))
  )

/** Entity names checked here (the typed client cannot send an unknown one to be refused). */
const entities = list("entities", `only these entity types (comma list): ${ENTITY_TYPES.join(", ")}`).pipe(
  Options.mapEffect((names) => {
    const unknown = names.filter((n) => !isEntityType(n))
    return unknown.length === 0
      ? Effect.succeed(names as Array<EntityType>)
      : Effect.fail(ValidationError.invalidValue(HelpDoc.p(`unknown entity type '${unknown[0]}'; valid: ${ENTITY_TYPES.join(", ")}`)))
  })
)

const sync = Command.make("sync", {
  ...connectionOptions,
  integrationId: Args.text({ name: "integrationId" }),
  type: jobTypeOption.pipe(Options.withDescription("full (default), incremental or selective"), Options.withDefault("full_sync" as const)),
  entities,
  projects: list("projects", "only these project ids (comma list)"),
  batchSize: boundedInteger("batch-size", 1, 1000).pipe(Options.withDescription("records per batch (1..1000, default 50)"), Options.optional),
  force: Options.boolean("force").pipe(Options.withDescription("run a full sync even if one ran recently, is active, or the circuit is open")),
  includeArchived: Options.boolean("include-archived").pipe(Options.withDescription("mirror archived records too")),
  watch: Options.boolean("watch").pipe(
    Options.withDescription("show the job's progress until it ends; exit 0 completed, 3 failed, 4 stopped")
  )
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const created = yield* call(o, api.jobs.create({
      payload: {
        integrationId: o.integrationId,
        type: o.type,
        options: {
          ...(o.entities.length > 0 ? { entities: o.entities } : {}),
          ...(o.projects.length > 0 ? { projects: o.projects } : {}),
          ...Option.match(o.batchSize, { onNone: () => ({}), onSome: (batchSize) => ({ batchSize }) }),
          ...(o.force ? { force: true } : {}),
          ...(o.includeArchived ? { includeArchived: true } : {})
        }
      }
    }))
    if (o.json) yield* Console.log(o.watch ? JSON.stringify(created) : json(created))
    else yield* Console.log(`Queued ${o.type} ${created.jobId} for ${o.integrationId}`)
    if (o.watch) yield* watchJob(o, created.jobId)
  })).pipe(Command.withDescription("Start a sync job (full, incremental or selective)"))

export const syncCommands = [sync] as const
