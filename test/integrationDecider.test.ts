import { Either, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { IntegrationEvent, IntegrationRegistered, JobQueued } from "../src/domain/events.js"
import { decideIntegration, INTEGRATION_COMMANDS, type IntegrationCommand } from "../src/domain/integrationDecider.js"
import { evolveIntegration, type IntegrationDoc } from "../src/eventlog/integrationProjection.js"
import { evolveJob } from "../src/eventlog/jobProjection.js"

/** The integration commands with rules, as a table: every state × every command. */
const ID = "plane-table"
const AT = "2026-01-05T09:12:44.120Z"
const NEXT = "2026-01-05T09:17:44.120Z"

const registered = (source: "config" | "api", enabled = true) =>
  evolveIntegration(
    undefined,
    new IntegrationRegistered({
      integrationId: ID,
      settings: {
        name: "Table",
        connector: "plane",
        baseUrl: "http://127.0.0.1:1",
        workspaceSlug: "acme",
        apiKeyEnv: "PLANE_KEY",
        syncInterval: 300,
        fullSyncInterval: null,
        requestsPerMinute: null,
        enabled
      },
      source,
      at: "2026-01-05T09:00:00.000Z"
    })
  )

const STATES = {
  "no integration": undefined,
  "removed": { ...registered("api"), removed: true },
  "from the file, never started": registered("config"),
  "from the file, on the schedule": { ...registered("config"), active: true, nextRunAt: NEXT },
  "from the file, stopped over the API": { ...registered("config"), stoppedAt: AT },
  "from the file, disabled": registered("config", false),
  "from the API, on the schedule": { ...registered("api"), active: true, nextRunAt: NEXT },
  "from the API, stopped": { ...registered("api"), stoppedAt: AT },
  "from the API, disabled": registered("api", false)
} satisfies Record<string, IntegrationDoc | undefined>
type State = keyof typeof STATES

const running = {
  ...evolveJob(
    undefined,
    new JobQueued({
      jobId: "sync-job-busy",
      integrationId: ID,
      jobType: "full_sync",
      options: { force: false, includeArchived: false, batchSize: 50, entities: ["projects"] },
      trigger: "manual",
      estimatedDuration: null,
      at: AT
    })
  ),
  status: "running" as const
}

const COMMANDS = {
  start: { _tag: "Start", integrationId: ID, nextRunAt: NEXT },
  "start if due": { _tag: "StartIfDue", integrationId: ID, nextRunAt: NEXT },
  stop: { _tag: "Stop", integrationId: ID },
  remove: { _tag: "Remove", integrationId: ID, purgeMirror: true, currentJob: undefined },
  "remove while a job runs": { _tag: "Remove", integrationId: ID, purgeMirror: false, currentJob: running }
} satisfies Record<string, IntegrationCommand>
type Command = keyof typeof COMMANDS

/** The refusal's `error` (its 404 or 409), or the events' tags. */
type Cell = string | ReadonlyArray<IntegrationEvent["_tag"]>
const NOT_FOUND = "IntegrationNotFound"
const started = ["IntegrationStarted"] as const

const TABLE: Record<State, Record<Command, Cell>> = {
  "no integration": {
    start: NOT_FOUND,
    "start if due": NOT_FOUND,
    stop: NOT_FOUND,
    remove: NOT_FOUND,
    "remove while a job runs": NOT_FOUND
  },
  "removed": {
    start: NOT_FOUND,
    "start if due": NOT_FOUND,
    stop: NOT_FOUND,
    remove: NOT_FOUND,
    "remove while a job runs": NOT_FOUND
  },
  "from the file, never started": {
    start: started,
    "start if due": started,
    stop: [],
    remove: "IntegrationManagedByConfig",
    "remove while a job runs": "IntegrationManagedByConfig"
  },
  "from the file, on the schedule": {
    start: [],
    "start if due": [],
    stop: ["IntegrationStopped"],
    remove: "IntegrationManagedByConfig",
    "remove while a job runs": "IntegrationManagedByConfig"
  },
  "from the file, stopped over the API": {
    start: started,
    "start if due": [],
    stop: [],
    remove: "IntegrationManagedByConfig",
    "remove while a job runs": "IntegrationManagedByConfig"
  },
  "from the file, disabled": {
    start: "IntegrationDisabled",
    "start if due": [],
    stop: [],
    remove: "IntegrationManagedByConfig",
    "remove while a job runs": "IntegrationManagedByConfig"
  },
  "from the API, on the schedule": {
    start: [],
    "start if due": [],
    stop: ["IntegrationStopped"],
    remove: ["IntegrationRemoved"],
    "remove while a job runs": "IntegrationBusy"
  },
  "from the API, stopped": {
    start: started,
    "start if due": [],
    stop: [],
    remove: ["IntegrationRemoved"],
    "remove while a job runs": "IntegrationBusy"
  },
  "from the API, disabled": {
    start: "IntegrationDisabled",
    "start if due": [],
    stop: [],
    remove: ["IntegrationRemoved"],
    "remove while a job runs": "IntegrationBusy"
  }
}

const states = Object.keys(STATES) as Array<State>
const commands = Object.keys(COMMANDS) as Array<Command>
const encode = Schema.encodeSync(IntegrationEvent)

describe("integration decider", () => {
  it("has a column for every command and a cell for every state", () => {
    const covered = new Set(commands.map((c) => COMMANDS[c]._tag))
    expect(INTEGRATION_COMMANDS.filter((tag) => !covered.has(tag))).toEqual([])
    expect(states.flatMap((s) => commands.filter((c) => TABLE[s]?.[c] === undefined).map((c) => `${s} × ${c}`))).toEqual([])
  })

  for (const state of states) {
    for (const command of commands) {
      const cell = TABLE[state][command]
      it(`${state} × ${command}: ${typeof cell === "string" ? `refuses (${cell})` : cell.length === 0 ? "changes nothing" : `appends ${cell.join(", ")}`}`, () => {
        const decision = decideIntegration(COMMANDS[command], STATES[state], AT)
        if (typeof cell === "string") {
          expect(Either.isLeft(decision)).toBe(true)
          const refusal = Either.isLeft(decision) ? decision.left : undefined
          expect(refusal).toMatchObject({ success: false, error: cell, integrationId: ID })
          expect(refusal?.message).toContain(ID)
          return
        }
        const events = Either.getOrThrow(decision)
        expect(events.map((e) => e._tag)).toEqual(cell)
        for (const event of events) {
          expect(event).toMatchObject({ integrationId: ID, at: AT })
          expect(() => encode(event)).not.toThrow()
        }
      })
    }
  }

  it("puts the integration on the schedule at the caller's next run, and says how to enable a disabled one", () => {
    const start = decideIntegration(COMMANDS.start, STATES["from the file, never started"], AT)
    expect(Either.getOrThrow(start)).toMatchObject([{ _tag: "IntegrationStarted", nextRunAt: NEXT }])
    const disabled = decideIntegration(COMMANDS.start, STATES["from the API, disabled"], AT)
    expect(Either.isLeft(disabled) && disabled.left.message).toBe(
      `Integration ${ID} is disabled (over the API); enable it with PATCH /api/sync/integrations/${ID} {"enabled": true}`
    )
    const busy = decideIntegration(COMMANDS["remove while a job runs"], STATES["from the API, stopped"], AT)
    expect(Either.isLeft(busy) && busy.left.message).toBe(
      `Integration ${ID} has a running job (sync-job-busy). Stop it first (POST /api/sync/integrations/${ID}/stop), then delete the integration.`
    )
  })
})
