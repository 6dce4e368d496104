/**
 * The `synclog` command line: a client of a running server (through the typed client of the
 * API), plus `replay`, which works on the SQLite file. Commands live in `cli/`, one file per group.
 */
import { Command, ValidationError } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit } from "effect"
import pkg from "../package.json" with { type: "json" }
import { CliExit, HttpLive } from "./cli/connection.js"
import { stripAnsi, useColour } from "./cli/format.js"
import { integrationCommands } from "./cli/integrations.js"
import { jobCommands } from "./cli/jobs.js"
import { notificationCommands } from "./cli/notifications.js"
import { recordCommands } from "./cli/records.js"
import { replay } from "./cli/replay.js"
import { syncCommands } from "./cli/sync.js"

const commands = [...integrationCommands, ...jobCommands, ...syncCommands, ...recordCommands, ...notificationCommands, replay] as const

const COMMAND_LIST = "status, jobs, job, logs, sync, stop, pause, resume, delete, stop-all, interval, integrations list|show|create|update|delete|set-key|delete-key|start|stop, records, notifications [list]|test, replay"

const synclog = Command.make("synclog", {}, () =>
  Console.log(`usage: synclog <command> [options]   (synclog --help, synclog <command> --help)\ncommands: ${COMMAND_LIST}`)).pipe(
    Command.withDescription("A client of a synclog server (--url, --token, --json on every command)"),
    Command.withSubcommands(commands)
  )

/**
 * @effect/cli's own output made fit for scripts: its one-line usage errors lose their trailing
 * blank line, and its help loses its colours where ours are off (not a terminal, NO_COLOR).
 */
const plainCliOutput = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Console.consoleWith((current) => {
    const clean = (stream: NodeJS.WriteStream, trim: boolean) => (args: ReadonlyArray<unknown>) =>
      args.map((a) => {
        if (typeof a !== "string") return a
        const text = useColour(stream) ? a : stripAnsi(a)
        return trim ? text.replace(/\n+$/, "") : text
      })
    return Console.withConsole(effect, {
      ...current,
      log: (...args: ReadonlyArray<unknown>) => current.log(...clean(process.stdout, false)(args)),
      error: (...args: ReadonlyArray<unknown>) => current.error(...clean(process.stderr, true)(args))
    })
  })

/** Exit codes: 0 ok, 1 API error, 2 usage error, 3 a watched job failed, 4 it was stopped. */
const main = Command.run(synclog, { name: "synclog", version: pkg.version })(process.argv).pipe(
  plainCliOutput,
  Effect.provide(HttpLive),
  Effect.provide(NodeContext.layer),
  Effect.as(0),
  Effect.catchAll((error) => {
    // @effect/cli has already printed its one-line reason (an unknown subcommand lists the valid ones).
    if (ValidationError.isValidationError(error)) return Effect.succeed(2)
    if (error instanceof CliExit) return Effect.as(error.message !== undefined ? Console.error(error.message) : Effect.void, error.code)
    return Effect.as(Console.error(`error: ${String(error)} (UnexpectedError)`), 1)
  }),
  // A bug: one line, no stack trace.
  Effect.catchAllDefect((defect) => Effect.as(Console.error(`error: ${Cause.pretty(Cause.die(defect)).split("\n")[0]} (Defect)`), 1))
)

NodeRuntime.runMain(main, {
  disableErrorReporting: true,
  // Ctrl-C interrupts: 130, as shells report SIGINT.
  teardown: (exit) => process.exit(Exit.isSuccess(exit) ? (exit.value as number) : 130)
})
