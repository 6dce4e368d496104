import { Args, Command, HelpDoc, Options, Prompt, ValidationError } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import { Console, Effect, Option, Redacted } from "effect"
import { text } from "node:stream/consumers"
import type { IntegrationSettingsView } from "../http/Api.js"
import { apiClient, call, CliExit, connectionOptions } from "./connection.js"
import { dateTime, fields, interval, json, paintStatus, table } from "./format.js"

/**
 * `synclog integrations list|show|create|update|delete|set-key|delete-key`: the integrations
 * created, changed and removed over the API (`/api/sync/integrations`), and their stored keys.
 */

const integrationIdArg = Args.text({ name: "integrationId" })
const usageError = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

/** How the schedule reads in a table: `every 15 m`, `cron 0 3 * * * (Europe/Berlin)`. */
const describeSchedule = (schedule: IntegrationSettingsView["schedule"], syncInterval: number | null): string => {
  if (schedule === undefined) return syncInterval === null ? "-" : `every ${interval(syncInterval)}`
  return "every" in schedule ? `every ${interval(schedule.every)}` : `cron ${schedule.cron} (${schedule.timezone})`
}

const describeWindow = (window: IntegrationSettingsView["syncWindow"]) =>
  window === undefined ? "-" : `${window.start}-${window.end} (${window.timezone})`

/** Where the key comes from, never the key: the stored one's fingerprint and/or the variable's name. */
const describeKey = (i: IntegrationSettingsView) =>
  [
    i.apiKeyEnv !== null ? `$${i.apiKeyEnv}` : null,
    i.credential !== null ? `stored ${i.credential.fingerprint}` : null
  ].filter((p) => p !== null).join(", ") || "none"

/** `key=value`: the value is JSON when it parses as JSON (numbers, true, null, objects), else the text. */
const parseAssignment = (assignment: string) => {
  const at = assignment.indexOf("=")
  if (at <= 0) return Effect.fail(usageError(`--set takes key=value, got '${assignment}'`))
  const key = assignment.slice(0, at).trim()
  const raw = assignment.slice(at + 1)
  let value: unknown = raw
  try {
    value = JSON.parse(raw)
  } catch {
    // Not JSON: the text itself (a name, a URL, a cron expression).
  }
  return Effect.succeed([key, value] as const)
}

const setOption = Options.text("set").pipe(
  Options.withDescription("key=value (repeatable); the value is read as JSON when it is JSON, e.g. syncInterval=1800, requestsPerMinute=null"),
  Options.repeated,
  Options.mapEffect((given) => Effect.all(given.map(parseAssignment)))
)

const fileOption = Options.file("file", { exists: "yes" }).pipe(
  Options.withDescription("a JSON object with the integration's keys (the config file's keys)"),
  Options.optional
)

/** The JSON object in `--file`, or an empty object without one. */
const readObject = (file: Option.Option<string>) =>
  Option.match(file, {
    onNone: () => Effect.succeed({} as Record<string, unknown>),
    onSome: (path) =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const content = yield* fs.readFileString(path).pipe(
          Effect.mapError(() => new CliExit({ code: 2, message: `cannot read ${path}` }))
        )
        let parsed: unknown
        try {
          parsed = JSON.parse(content)
        } catch {
          return yield* new CliExit({ code: 2, message: `${path} is not JSON; it should hold one object with the integration's keys` })
        }
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          return yield* new CliExit({ code: 2, message: `${path} should hold one JSON object with the integration's keys` })
        }
        return parsed as Record<string, unknown>
      })
  })

const present = (i: IntegrationSettingsView) =>
  fields([
    ["Integration", i.id],
    ["Name", i.name],
    ["Source", i.source === "api" ? "api (change it with synclog integrations update)" : "config (edit the config file)"],
    ["Enabled", i.enabled ? "yes" : "no"],
    ["Base URL", i.baseUrl],
    ["Workspace", i.workspaceSlug],
    ["Schedule", describeSchedule(i.schedule, i.syncInterval)],
    ["Full syncs", i.fullSyncSchedule !== undefined || i.fullSyncInterval !== null ? describeSchedule(i.fullSyncSchedule, i.fullSyncInterval) : "-"],
    ["Window", describeWindow(i.syncWindow)],
    ["Requests/min", i.requestsPerMinute === null ? "as the source says" : String(i.requestsPerMinute)],
    ["API key", describeKey(i)],
    ["Registered", dateTime(i.registeredAt)]
  ])

const list = Command.make("list", connectionOptions, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrationSettings.list())
    if (o.json) return yield* Console.log(json(result))
    if (result.integrations.length === 0) return yield* Console.log("No integrations; create one with synclog integrations create.")
    yield* Console.log(table(
      ["INTEGRATION", "NAME", "SOURCE", "ENABLED", "SCHEDULE", "WINDOW", "API KEY"],
      result.integrations.map((i) => [
        i.id,
        i.name,
        i.source,
        i.enabled ? paintStatus("yes") : "no",
        describeSchedule(i.schedule, i.syncInterval),
        describeWindow(i.syncWindow),
        describeKey(i)
      ])
    ))
  })).pipe(Command.withDescription("Every integration's settings (from the config file and the API), never a key"))

const show = Command.make("show", { ...connectionOptions, integrationId: integrationIdArg }, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrationSettings.get({ path: { integrationId: o.integrationId } }))
    yield* Console.log(o.json ? json(result) : present(result))
  })).pipe(Command.withDescription("One integration's settings"))

const optionalText = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

const create = Command.make("create", {
  ...connectionOptions,
  file: fileOption,
  id: optionalText("id", "its id (letters, digits, - and _)"),
  name: optionalText("name", "its display name"),
  baseUrl: optionalText("base-url", "the Plane API's address, e.g. https://api.plane.so"),
  workspace: optionalText("workspace", "the Plane workspace slug"),
  every: Options.integer("every").pipe(Options.withDescription("sync every n seconds (30..2592000)"), Options.optional),
  cron: optionalText("cron", "sync on a cron schedule (5 fields), instead of --every"),
  timezone: optionalText("timezone", "the cron schedule's IANA time zone (default UTC)"),
  apiKeyEnv: optionalText("api-key-env", "the environment variable holding its API key (else store one with set-key)"),
  disabled: Options.boolean("disabled").pipe(Options.withDescription("create it off the schedule")),
  set: setOption
}, (o) =>
  Effect.gen(function*() {
    if (Option.isSome(o.every) && Option.isSome(o.cron)) return yield* new CliExit({ code: 2, message: "give --every or --cron, not both" })
    if (Option.isSome(o.timezone) && Option.isNone(o.cron)) return yield* new CliExit({ code: 2, message: "--timezone goes with --cron" })
    const flag = <A>(key: string, value: Option.Option<A>) => Option.match(value, { onNone: () => ({}), onSome: (v) => ({ [key]: v }) })
    const schedule = Option.isSome(o.every)
      ? { schedule: { every: o.every.value } }
      : Option.isSome(o.cron)
      ? { schedule: { cron: o.cron.value, ...flag("timezone", o.timezone) } }
      : {}
    const payload: Record<string, unknown> = {
      type: "plane",
      ...(yield* readObject(o.file)),
      ...flag("id", o.id),
      ...flag("name", o.name),
      ...flag("baseUrl", o.baseUrl),
      ...flag("workspaceSlug", o.workspace),
      ...flag("apiKeyEnv", o.apiKeyEnv),
      ...schedule,
      ...(o.disabled ? { enabled: false } : {}),
      ...Object.fromEntries(o.set)
    }
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrationSettings.create({ payload }))
    if (o.json) return yield* Console.log(json(result))
    const i = result.integration
    yield* Console.log(
      `Created integration ${i.id} (${describeSchedule(i.schedule, i.syncInterval)}${i.enabled ? "" : ", disabled"})` +
        (i.apiKeyEnv === null && i.credential === null ? `; store its API key with: synclog integrations set-key ${i.id}` : "")
    )
  })).pipe(Command.withDescription("Create an integration from --file and/or flags (the config file's keys; --set for any other)"))

const update = Command.make("update", { ...connectionOptions, integrationId: integrationIdArg, file: fileOption, set: setOption }, (o) =>
  Effect.gen(function*() {
    const payload = { ...(yield* readObject(o.file)), ...Object.fromEntries(o.set) }
    if (Object.keys(payload).length === 0) return yield* new CliExit({ code: 2, message: "nothing to change: give --set key=value or --file" })
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrationSettings.update({ path: { integrationId: o.integrationId }, payload }))
    if (o.json) return yield* Console.log(json(result))
    yield* Console.log(
      result.changed.length === 0
        ? `Integration ${o.integrationId} unchanged (the values were already set)`
        : `Integration ${o.integrationId} changed: ${result.changed.join(", ")}`
    )
  })).pipe(Command.withDescription("Change an API integration's settings (--set key=value, null unsets; or --file)"))

const remove = Command.make("delete", {
  ...connectionOptions,
  integrationId: integrationIdArg,
  purgeMirror: Options.boolean("purge-mirror").pipe(Options.withDescription("also delete its mirrored records"))
}, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrationSettings.remove({
      path: { integrationId: o.integrationId },
      urlParams: o.purgeMirror ? { purgeMirror: true } : {}
    }))
    if (o.json) return yield* Console.log(json(result))
    yield* Console.log(`Deleted integration ${result.deleted}${o.purgeMirror ? `; purged ${result.purgedRecords} mirrored record(s)` : ""}`)
  })).pipe(Command.withDescription("Remove an API integration (refused while it has a queued or running job); its events stay"))

/**
 * The key comes from stdin (a pipe, a file) or a hidden prompt on a terminal, never from the
 * command line: arguments are visible to every user in `ps` and kept in the shell's history.
 */
const readKey = (integrationId: string) =>
  Effect.gen(function*() {
    const key = process.stdin.isTTY === true
      ? Redacted.value(
        yield* Prompt.password({ message: `API key for ${integrationId} (not shown)` }).pipe(
          // Ctrl-C at the prompt: interrupted, as elsewhere.
          Effect.mapError(() => new CliExit({ code: 130 }))
        )
      )
      : yield* Effect.promise(() => text(process.stdin))
    // One trailing newline is what `echo` or a file adds; the key itself has none.
    const trimmed = key.replace(/\r?\n$/, "")
    if (trimmed === "") return yield* new CliExit({ code: 2, message: "no API key given: pipe it on stdin or type it at the prompt" })
    return Redacted.make(trimmed)
  })

const setKey = Command.make("set-key", { ...connectionOptions, integrationId: integrationIdArg }, (o) =>
  Effect.gen(function*() {
    const apiKey = yield* readKey(o.integrationId)
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrationSettings.putCredentials({
      path: { integrationId: o.integrationId },
      payload: { apiKey: Redacted.value(apiKey) }
    }))
    if (o.json) return yield* Console.log(json(result))
    yield* Console.log(`${result.message} Fingerprint ${result.credential.fingerprint}.`)
  })).pipe(Command.withDescription("Store an integration's API key, read from stdin or a hidden prompt (never an argument); needs SYNC_MASTER_KEY on the server"))

const deleteKey = Command.make("delete-key", { ...connectionOptions, integrationId: integrationIdArg }, (o) =>
  Effect.gen(function*() {
    const api = yield* apiClient(o)
    const result = yield* call(o, api.integrationSettings.deleteCredentials({ path: { integrationId: o.integrationId } }))
    if (o.json) return yield* Console.log(json(result))
    yield* Console.log(result.removed ? `Deleted the stored API key of ${o.integrationId}` : `${o.integrationId} had no stored API key`)
  })).pipe(Command.withDescription("Delete an integration's stored API key"))

export const integrationSettingsCommands = [list, show, create, update, remove, setKey, deleteKey] as const
