/**
 * Standalone simulator: `npm run simulator -- [flags]`.
 *
 *   --port 3002 --workspace acme --work-items 5000 --projects 10 --seed 1
 *   --api-key <key> --rate-limit 0 --faults '<json>' --max-per-page 1000 --clamp-per-page
 *   --issues-only --edition cloud|ce
 *
 * `--workspace` accepts a comma-separated list (each gets the same sizes, seeds seed,
 * seed+1, ...). Prints the effective settings, the API key and a curl to try, then serves
 * until SIGINT/SIGTERM, which close the server.
 */
import { Command, Options } from "@effect/cli"
import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Cause, Console, Effect, Option } from "effect"
import { parseFaultSettings } from "./faults.js"
import type { FaultSettings } from "./faults.js"
import { startSimulatorScoped } from "./layer.js"

const port = Options.integer("port").pipe(Options.withDefault(3002), Options.withDescription("TCP port (0 = any free port)"))
const workspace = Options.text("workspace").pipe(
  Options.withDefault("acme"),
  Options.withDescription("workspace slug(s), comma-separated")
)
const integer = (name: string, fallback: number, description: string) =>
  Options.integer(name).pipe(Options.withDefault(fallback), Options.withDescription(description))
const workItems = integer("work-items", 5000, "work items per workspace")
const projects = integer("projects", 10, "projects per workspace")
const seed = integer("seed", 1, "seed of data, faults and default key")
const rateLimit = integer(
  "rate-limit",
  0,
  "requests per minute per key, throttled as Plane does (X-RateLimit-Remaining/X-RateLimit-Reset on answers, 429 with Retry-After past it); 0 = off"
)
const maxPerPage = integer(
  "max-per-page",
  1000,
  "largest per_page accepted (self-hosted Plane CE: 1000; Plane Cloud's SDKs: 100); a larger one is a 400"
)
const clampPerPage = Options.boolean("clamp-per-page").pipe(
  Options.withDescription(
    "serve a per_page above --max-per-page as pages of that maximum (fewer rows than asked, next_page_results true) instead of a 400"
  )
)
const edition = Options.choice("edition", ["cloud", "ce"]).pipe(
  Options.withDefault("cloud"),
  Options.withDescription(
    "cloud: an archived work item's detail is 200 with archived_at; ce: 404, as self-hosted Plane CE answers"
  )
)
const apiKey = Options.text("api-key").pipe(Options.optional, Options.withDescription("accepted API key (default: from seed); PUT /__admin/api-keys {\"keys\": [...]} replaces the accepted keys at run time (a rotation)"))
const faults = Options.text("faults").pipe(Options.optional, Options.withDescription("fault settings as JSON"))
const issuesOnly = Options.boolean("issues-only").pipe(Options.withDescription("simulate CE v1.0.0: no work-items/ routes"))

const parseFaults = (json: Option.Option<string>): Effect.Effect<FaultSettings, Error> =>
  Option.match(json, {
    onNone: () => Effect.succeed({}),
    onSome: (text) =>
      Effect.try({
        try: () => parseFaultSettings(JSON.parse(text)),
        catch: (e) => new Error(`--faults: ${e instanceof Error ? e.message : String(e)}`)
      })
  })

const command = Command.make(
  "simulator",
  { port, workspace, workItems, projects, seed, apiKey, rateLimit, faults, maxPerPage, clampPerPage, issuesOnly, edition },
  (flags) =>
    Effect.gen(function* () {
      const faultSettings = yield* parseFaults(flags.faults)
      const slugs = flags.workspace
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
      const sim = yield* startSimulatorScoped({
        port: flags.port,
        workspaces: slugs.map((slug, i) => ({ slug, projects: flags.projects, workItems: flags.workItems, seed: flags.seed + i })),
        rateLimitPerMinute: flags.rateLimit,
        maxPerPage: flags.maxPerPage,
        oversizedPerPage: flags.clampPerPage ? "clamp" : "reject",
        archivedWorkItemDetail: flags.edition === "ce" ? "not-found" : "ok",
        workItemsRoute: flags.issuesOnly ? "issues-only" : "both",
        faults: faultSettings,
        seed: flags.seed,
        ...Option.match(flags.apiKey, { onNone: () => ({}), onSome: (key) => ({ apiKey: key }) })
      })
      const first = sim.workspaces[0] ?? "acme"
      yield* Console.log(
        [
          `Plane v1 API simulator listening on ${sim.url}`,
          `  workspaces:   ${sim.workspaces.join(", ")} (${flags.projects} projects, ${flags.workItems} work items each)`,
          `  seed:         ${flags.seed}`,
          `  api key:      ${sim.apiKey}`,
          `  rate limit:   ${flags.rateLimit > 0 ? `${flags.rateLimit} requests/min per key` : "off"}`,
          `  max per_page: ${flags.maxPerPage} (${flags.clampPerPage ? "larger ones served as pages of this size" : "larger ones answer 400"})`,
          `  edition:      ${flags.edition === "ce" ? "self-hosted CE (archived work item detail: 404)" : "Cloud (archived work item detail: 200 with archived_at)"}`,
          `  work items:   ${flags.issuesOnly ? "issues/ routes only (CE v1.0.0)" : "work-items/ and issues/ routes"}`,
          `  faults:       ${JSON.stringify(faultSettings)}`,
          ``,
          `Try:`,
          `  curl -s -H 'X-API-Key: ${sim.apiKey}' '${sim.url}/api/v1/workspaces/${first}/projects/?per_page=100'`,
          `  curl -s '${sim.url}/__admin/counts?workspace=${first}'`,
          ``,
          `Ctrl-C to stop.`
        ].join("\n")
      )
      return yield* Effect.never
    }).pipe(Effect.scoped)
)

const cli = Command.run(command, { name: "Plane API simulator", version: "0.1.0" })

cli(process.argv).pipe(
  // Report our own errors as one line (the CLI already prints its validation errors).
  Effect.tapError((e) => (e instanceof Error ? Console.error(e.message) : Effect.void)),
  Effect.tapDefect((cause) => {
    const defect = Cause.squash(cause)
    return Console.error(`simulator failed: ${defect instanceof Error ? defect.message : String(defect)}`)
  }),
  Effect.provide(NodeContext.layer),
  (program) => NodeRuntime.runMain(program, { disableErrorReporting: true })
)
