import { Args, Command, Options } from "@effect/cli"
import { Console, Effect, Option } from "effect"
import { apiClient, call, CliExit, connectionOptions } from "./connection.js"
import { dateTime, duration, interval, json, paintStatus, table } from "./format.js"
import { integrationSettingsCommands } from "./integrationSettings.js"

const integrationIdArg = Args.text({ name: "integrationId" })

const status = Command.make("status", connectionOptions, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrations.status())
    if (o.json) return yield* Console.log(json(result))
    if (result.integrations.length === 0) return yield* Console.log("No integrations configured.")
    yield* Console.log(table(
      ["INTEGRATION", "NAME", "STATUS", "LAST SYNC", "NEXT SYNC", "EVERY", "CURRENT JOB", "JOBS", "SUCCESS", "AVG", "CIRCUIT"],
      result.integrations.map((i) => [
        i.integrationId,
        i.name,
        paintStatus(i.status),
        dateTime(i.lastSync),
        dateTime(i.nextSync),
        interval(i.syncInterval),
        i.currentJob === null ? "-" : `${i.currentJob.id} ${i.currentJob.status} ${i.currentJob.progress}%`,
        String(i.stats.totalJobs),
        i.stats.successRate === null ? "-" : `${Math.round(i.stats.successRate * 100)}%`,
        duration(i.stats.averageDuration),
        paintStatus(i.circuitBreaker.state)
      ])
    ))
  })).pipe(Command.withDescription("Every integration: status, last and next sync, current job, health"))

const start = Command.make("start", {
  ...connectionOptions,
  integrationId: integrationIdArg,
  type: Options.choice("type", ["full", "incremental", "selective"]).pipe(
    Options.withDescription("the type of the sync it starts now (default incremental)"),
    Options.optional
  ),
  scheduleOnly: Options.boolean("schedule-only").pipe(Options.withDescription("activate the schedule without syncing now"))
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrations.start({
      path: { integrationId: o.integrationId },
      payload: {
        ...Option.match(o.type, { onNone: () => ({}), onSome: (syncType) => ({ syncType }) }),
        scheduleImmediate: !o.scheduleOnly
      }
    }))
    yield* Console.log(o.json ? json(result) : result.message + (result.jobId !== null ? ` (job ${result.jobId})` : ""))
  })).pipe(Command.withDescription("Activate an integration's schedule and (unless --schedule-only) sync now"))

const stop = Command.make("stop", { ...connectionOptions, integrationId: integrationIdArg }, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrations.stop({ path: { integrationId: o.integrationId } }))
    yield* Console.log(o.json ? json(result) : result.message)
  })).pipe(Command.withDescription("Stop an integration's schedule and its queued and running jobs"))

const integrations = Command.make("integrations", {}, () =>
  new CliExit({ code: 2, message: "usage: synclog integrations list|show|create|update|delete|set-key|delete-key|start|stop" })).pipe(
  Command.withDescription("Integrations: their settings, created and changed over the API, their stored keys, and their schedule"),
  Command.withSubcommands([...integrationSettingsCommands, start, stop])
)

export const integrationCommands = [status, integrations] as const
