import { Effect, Either } from "effect"
import { howToEnable, type IntegrationDoc } from "../eventlog/integrationProjection.js"
import type { JobDoc } from "../eventlog/jobProjection.js"
import { IntegrationConflict, IntegrationNotFound, JobConflict } from "./errors.js"
import { type IntegrationEvent, IntegrationRemoved, IntegrationStarted, IntegrationStopped } from "./events.js"

/**
 * The integration commands that have rules: putting it on the schedule and off, and removing it.
 * (When its next run is due is the schedule's business: the caller computes `nextRunAt`. The
 * circuit breaker's transitions are engine/CircuitBreaker.ts's.)
 */
export type IntegrationCommand =
  /** `POST .../start`: on the schedule, unless it is disabled. */
  | { readonly _tag: "Start"; readonly integrationId: string; readonly nextRunAt: string }
  /** The config file read, or an API integration created or changed: on the schedule when enabled and not stopped over the API. */
  | { readonly _tag: "StartIfDue"; readonly integrationId: string; readonly nextRunAt: string }
  /** `POST .../stop`: off the schedule (its jobs are stopped by the caller). */
  | { readonly _tag: "Stop"; readonly integrationId: string }
  /** `DELETE .../:id`: only an integration created over the API, and only while it has no job in progress. */
  | {
    readonly _tag: "Remove"
    readonly integrationId: string
    readonly purgeMirror: boolean
    /** Its queued, running or stopping job, if any (`Views.currentJob`). */
    readonly currentJob: JobDoc | undefined
  }

export const INTEGRATION_COMMANDS = ["Start", "StartIfDue", "Stop", "Remove"] as const satisfies ReadonlyArray<
  IntegrationCommand["_tag"]
>

/** Fails to compile when a command is missing from INTEGRATION_COMMANDS. */
const _everyCommandListed: Exclude<IntegrationCommand["_tag"], (typeof INTEGRATION_COMMANDS)[number]> extends never ? true
  : never = true
void _everyCommandListed

/** How each command can be refused: 404, 409 `IntegrationDisabled`, 409 `IntegrationManagedByConfig` or `IntegrationBusy`. */
interface Refusals {
  readonly Start: IntegrationNotFound | JobConflict
  readonly StartIfDue: IntegrationNotFound
  readonly Stop: IntegrationNotFound
  readonly Remove: IntegrationNotFound | IntegrationConflict
}
type IntegrationRefusal = Refusals[keyof Refusals]
type IntegrationDecision = Either.Either<ReadonlyArray<IntegrationEvent>, IntegrationRefusal>

/** The config file is the source of truth for the integrations it names: the API changes only its own. */
export const managedByConfig = (id: string, what: string) =>
  new IntegrationConflict({
    error: "IntegrationManagedByConfig",
    integrationId: id,
    message: `Integration ${id} comes from the config file, which is the source of truth for it: ${what} in the file and POST /api/sync/initialize.`
  })

const accept = (...events: ReadonlyArray<IntegrationEvent>): IntegrationDecision => Either.right(events)

/**
 * The events a command appends to an integration in the state `doc` (none when there is nothing
 * to do), or why it is refused. Pure: `at` stamps the events.
 */
export const decideIntegration = (
  command: IntegrationCommand,
  doc: IntegrationDoc | undefined,
  at: string
): IntegrationDecision => {
  const { integrationId } = command
  if (doc === undefined || doc.removed) return Either.left(IntegrationNotFound.of(integrationId))
  switch (command._tag) {
    case "Start":
      if (!doc.settings.enabled) {
        return Either.left(
          new JobConflict({
            error: "IntegrationDisabled",
            integrationId,
            message: `Integration ${integrationId} is disabled ${howToEnable(doc)}`
          })
        )
      }
      return doc.active ? accept() : accept(new IntegrationStarted({ integrationId, nextRunAt: command.nextRunAt, at }))
    case "StartIfDue":
      // Stopped over the API: it stays stopped until started over the API again.
      return doc.settings.enabled && !doc.active && doc.stoppedAt === null
        ? accept(new IntegrationStarted({ integrationId, nextRunAt: command.nextRunAt, at }))
        : accept()
    case "Stop":
      return doc.active ? accept(new IntegrationStopped({ integrationId, at })) : accept()
    case "Remove": {
      if (doc.source !== "api") return Either.left(managedByConfig(integrationId, "remove it"))
      const current = command.currentJob
      if (current !== undefined) {
        return Either.left(
          new IntegrationConflict({
            error: "IntegrationBusy",
            integrationId,
            message: `Integration ${integrationId} has a ${current.status} job (${current.id}). Stop it first (POST /api/sync/integrations/${integrationId}/stop), then delete the integration.`
          })
        )
      }
      return accept(new IntegrationRemoved({ integrationId, purgeMirror: command.purgeMirror, at }))
    }
  }
}

/** `decideIntegration` as an effect: its events, or its refusal as the command's error. */
export const decidedIntegration = <C extends IntegrationCommand>(
  command: C,
  doc: IntegrationDoc | undefined,
  at: string
): Effect.Effect<ReadonlyArray<IntegrationEvent>, Refusals[C["_tag"]]> =>
  Either.match(decideIntegration(command, doc, at), {
    // The decider refuses each command only in the ways `Refusals` lists.
    onLeft: (refusal) => Effect.fail(refusal as Refusals[C["_tag"]]),
    onRight: (events) => Effect.succeed(events)
  })
