import { randomBytes } from "node:crypto"
import { Schema } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { NotificationEndpointConfig } from "../src/notifications/config.js"
import { type RunningSimulator, startSimulator } from "../src/simulator/server.js"
import { type AppHandle, planeIntegration, startApp, tempDir } from "./support/app.js"
import { type CliRun, runSynclog, runSynclogInTerminal, screenOf } from "./support/cli.js"
import { waitFor } from "./support/http.js"
import { freePort, type Receiver, startReceiver } from "./support/receiver.js"
import { sourceCounts, total } from "./support/source.js"

/**
 * The `synclog` command (its bin launcher, as `npx synclog` runs it) against a real server with a
 * token, the Plane simulator behind it: every command's output and exit code.
 */
/** Each command is a Node process loading the CLI from its sources; the file runs many. */
const SLOW = 180_000

describe("synclog command line", () => {
  let sim: RunningSimulator
  let app: AppHandle
  const tmp = tempDir()
  const TOKEN = "cli-token-1"
  const READ_TOKEN = "cli-read-token-1"
  let conn: Array<string>

  /** The API, to check what the CLI did (plain fetch with the token). */
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(app.url + path, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {})
    })
    const text = await res.text()
    return { status: res.status, body: text === "" ? null : JSON.parse(text) }
  }
  const statusOf = async (jobId: string) => (await api("GET", `/api/sync/jobs/${jobId}`)).body?.status as string | undefined
  const waitForJobStatus = (jobId: string, statuses: ReadonlyArray<string>) =>
    waitFor(`job ${jobId} to be ${statuses.join("|")}`, async () => statuses.includes((await statusOf(jobId)) ?? ""), 60_000)

  const synclog = (...args: Array<string>) => runSynclog([...args, ...conn])
  /** Output for an assertion message. */
  const shown = (r: CliRun) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
  const jobIdIn = (stdout: string) => /Queued \w+ (sync-job-[a-z0-9]+)/.exec(stdout)?.[1]

  beforeAll(async () => {
    sim = await startSimulator({
      workspaces: [{ slug: "acme", projects: 2, workItems: 120, seed: 7 }, { slug: "beta", projects: 1, workItems: 15, seed: 8 }]
    })
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      apiToken: TOKEN,
      readToken: READ_TOKEN,
      secrets: { WRONG_PLANE_KEY: "not-the-key" },
      integrations: [
        planeIntegration("acme", sim, "acme"),
        planeIntegration("beta", sim, "beta"),
        planeIntegration("refused", sim, "beta", { apiKeyEnv: "WRONG_PLANE_KEY" })
      ]
    })
    conn = ["--url", app.url, "--token", TOKEN]
  })

  afterAll(async () => {
    await app?.close()
    await sim?.close()
    tmp.remove()
  }, SLOW)

  it("syncs with --watch on a non-terminal, then lists, shows and reads what it did", async () => {
    const sync = await synclog("sync", "acme", "--type", "full", "--batch-size", "40", "--watch")
    expect(sync.code, shown(sync)).toBe(0)
    expect(sync.stderr).toBe("")
    const jobId = jobIdIn(sync.stdout)!
    expect(jobId).toBeDefined()
    const lines = sync.stdout.trimEnd().split("\n")
    // One line per stage (no bar, no control characters), then the summary with the exact counts.
    expect(sync.stdout).not.toMatch(/[\r\x1b]/)
    expect(lines.filter((l) => /^\d\d:\d\d:\d\d {2}syncing_work_items {2}\d+%/.test(l))).toHaveLength(1)
    expect(lines.filter((l) => /^\d\d:\d\d:\d\d {2}completed {2}100%/.test(l))).toHaveLength(1)
    const records = total(await sourceCounts(sim, "acme"))
    expect(lines.at(-1)).toMatch(
      new RegExp(`^Job ${jobId} completed in [\\d.]+ (ms|s); processed ${records} created ${records} updated 0 deleted 0 errors 0$`)
    )

    const detail = (await api("GET", `/api/sync/jobs/${jobId}`)).body
    const logTotal = (await api("GET", `/api/sync/jobs/${jobId}/logs`)).body.total as number
    const [status, statusJson, jobs, jobsJson, job, jobJson, logs, follow, page, none] = await Promise.all([
      synclog("status"),
      synclog("status", "--json"),
      synclog("jobs", "--integration", "acme"),
      synclog("jobs", "--status", "completed,running", "--type", "full", "--limit", "5", "--json"),
      synclog("job", jobId),
      synclog("job", jobId, "--json"),
      synclog("logs", jobId),
      synclog("logs", jobId, "--follow"),
      synclog("records", "acme", "--entity", "work_items", "--limit", "5"),
      synclog("records", "acme", "--entity", "work_items", "--since", "2999-01-01T00:00:00Z", "--json")
    ])
    for (const r of [status, statusJson, jobs, jobsJson, job, jobJson, logs, follow, page, none]) {
      expect(r.code, shown(r)).toBe(0)
      expect(r.stderr, shown(r)).toBe("")
    }

    // status: a table with a header and one aligned row per integration.
    const statusLines = status.stdout.trimEnd().split("\n")
    expect(statusLines[0]).toMatch(/^INTEGRATION +NAME +STATUS +LAST SYNC +NEXT SYNC +EVERY +CURRENT JOB +JOBS +SUCCESS/)
    expect(statusLines).toHaveLength(4)
    const acmeRow = statusLines.find((l) => l.startsWith("acme "))!
    expect(acmeRow).toMatch(/^acme +Test acme +active +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +1 h +- +1 +100% /)
    expect(acmeRow.indexOf("active")).toBe(statusLines[0]!.indexOf("STATUS"))
    expect(JSON.parse(statusJson.stdout)).toEqual((await api("GET", "/api/sync/integrations/status")).body)

    // jobs: the table, and the API's JSON with the filters applied.
    expect(jobs.stdout).toMatch(new RegExp(`^${jobId} +acme +full_sync +completed +100% +- +${records} +${records} +0 +0 `, "m"))
    expect(jobs.stdout.trimEnd().split("\n").at(-1)).toBe("1 of 1 job(s)")
    const listed = JSON.parse(jobsJson.stdout)
    expect(listed.jobs.map((j: { id: string }) => j.id)).toEqual([jobId])
    expect(listed.total).toBe(1)

    // job: the detail's fields and latest log lines; --json is the API's answer.
    expect(job.stdout).toMatch(new RegExp(`^Job +${jobId}$`, "m"))
    expect(job.stdout).toMatch(/^Status +completed 100%$/m)
    expect(job.stdout).toMatch(new RegExp(`^Counters +processed ${records} created ${records} updated 0 deleted 0 errors 0$`, "m"))
    expect(job.stdout).toContain(`Latest log lines (synclog logs ${jobId} for all):`)
    expect(JSON.parse(jobJson.stdout)).toEqual(detail)

    // logs: every line, oldest first; --follow on an ended job prints them and returns.
    const logLines = logs.stdout.trimEnd().split("\n")
    expect(logLines).toHaveLength(logTotal)
    expect(logLines[0]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}info {3}Queued full_sync of acme \(manual\)$/)
    expect(logLines.at(-1)).toMatch(/info {3}Completed: /)
    expect(follow.stdout).toBe(logs.stdout)

    // records: a page of the mirror with the cursor of the next one.
    const pageLines = page.stdout.trimEnd().split("\n")
    expect(pageLines[0]).toMatch(/^ID +NAME +PROJECT +UPDATED +ARCHIVED +DELETED$/)
    expect(pageLines).toHaveLength(7)
    expect(pageLines.at(-1)).toMatch(new RegExp(`^5 of ${(await sourceCounts(sim, "acme")).work_items} work_items record\\(s\\); next page: --cursor \\S+$`))
    expect(JSON.parse(none.stdout)).toEqual({ records: [], total: 0, nextCursor: null })
  }, SLOW)

  it("answers bad input and API errors with one line and exit codes 1 and 2", async () => {
    const [unknownCommand, unknownJob, badStatus, badEntity, badLimit, noToken, noBaseline, badInterval, unreachable, readOnly, help] =
      await Promise.all([
        synclog("bogus"),
        synclog("job", "sync-job-nope"),
        synclog("jobs", "--status", "finished"),
        synclog("sync", "acme", "--entities", "work_items,tickets"),
        synclog("records", "acme", "--entity", "work_items", "--limit", "5000"),
        runSynclog(["status", "--url", app.url]),
        synclog("sync", "beta", "--type", "incremental"),
        synclog("interval", "sync-job-nope", "600"),
        runSynclog(["status", "--url", "http://127.0.0.1:9"]),
        runSynclog(["stop-all", "--url", app.url, "--token", READ_TOKEN]),
        runSynclog(["jobs", "--help"])
      ])
    const oneLine = (r: CliRun, code: number) => {
      expect(r.code, shown(r)).toBe(code)
      expect(r.stdout, shown(r)).toBe("")
      expect(r.stderr.endsWith("\n") && r.stderr.split("\n").length === 2, shown(r)).toBe(true)
      expect(r.stderr).not.toMatch(/^\s+at |\{"_tag"/m) // no stack trace, no JSON dump
      return r.stderr.trimEnd()
    }
    // Usage errors (exit 2): @effect/cli's reason; an unknown command lists the valid ones.
    expect(oneLine(unknownCommand, 2)).toBe(
      "Invalid subcommand for synclog - use one of 'status', 'integrations', 'jobs', 'job', 'logs', 'stop', 'pause', " +
        "'resume', 'delete', 'stop-all', 'interval', 'sync', 'records', 'notifications', 'replay'"
    )
    expect(oneLine(badStatus, 2)).toBe("unknown status 'finished'; valid: pending, queued, running, paused, stopping, stopped, completed, failed")
    expect(oneLine(badEntity, 2)).toBe("unknown entity type 'tickets'; valid: projects, states, labels, cycles, modules, work_items")
    expect(oneLine(badLimit, 2)).toBe("--limit must be between 1 and 1000, got 5000")
    // API errors (exit 1): `error: <the API's message> (<Tag>)`.
    expect(oneLine(unknownJob, 1)).toBe("error: No sync job with id 'sync-job-nope'. List jobs with GET /api/sync/jobs. (JobNotFound)")
    expect(oneLine(noToken, 1)).toBe("error: Missing or wrong API token: send 'Authorization: Bearer <SYNC_API_TOKEN>' (Unauthorized)")
    expect(oneLine(noBaseline, 1)).toMatch(/^error: .+ \(BaselineRequired\)$/)
    expect(oneLine(badInterval, 1)).toMatch(/^error: No sync job with id 'sync-job-nope'.+ \(JobNotFound\)$/)
    expect(oneLine(readOnly, 1)).toMatch(/^error: This token is read-only .+ \(Forbidden\)$/)
    // Help is plain text off a terminal, and lists the command's options.
    expect(help.code, shown(help)).toBe(0)
    expect(help.stdout).not.toContain("\x1b")
    expect(help.stdout).toMatch(/--status text/)
    expect(help.stdout).toMatch(/--integration text/)
    expect(oneLine(unreachable, 1)).toBe(
      "error: cannot reach synclog at http://127.0.0.1:9: check --url or SYNC_URL, and that the server runs (Unreachable)"
    )
  }, SLOW)

  it("controls jobs: pause, resume, stop (--watch exits 4), delete, stop-all, interval, integrations", async () => {
    // Slow pages keep the job running while the commands act on it.
    sim.setFaults({ latencyMs: 1500 })
    let watch: Promise<CliRun> | undefined
    try {
      const created = await api("POST", "/api/sync/jobs", {
        integrationId: "acme",
        type: "full",
        options: { force: true, batchSize: 2 }
      })
      const jobId = created.body.jobId as string
      // Server and token from the environment this time.
      let watched = ""
      watch = runSynclog(["job", jobId, "--watch"], {
        env: { SYNC_URL: app.url, SYNC_API_TOKEN: TOKEN },
        onStdout: (s) => (watched = s)
      })
      // Act once the watch follows the job (its first line is out), so it sees the pause.
      await waitFor("the watch's first line", async () => watched.includes("\n"), 90_000)

      const pause = await synclog("pause", jobId)
      expect(pause.code, shown(pause)).toBe(0)
      expect(pause.stdout).toMatch(new RegExp(`\\(${jobId}: (running|stopping|paused)\\)\\n$`))
      await waitForJobStatus(jobId, ["paused"])
      const [resume, pausedAgain] = [await synclog("resume", jobId), await synclog("resume", jobId)]
      expect(resume.code, shown(resume)).toBe(0)
      // Resuming a job that is not paused any more is the API's 409.
      expect(pausedAgain.code, shown(pausedAgain)).toBe(1)
      expect(pausedAgain.stderr).toMatch(/^error: .+ \(InvalidTransition\)\n$/)
      await waitForJobStatus(jobId, ["running"])
      const stop = await synclog("stop", jobId)
      expect(stop.code, shown(stop)).toBe(0)

      const ended = await watch
      expect(ended.code, shown(ended)).toBe(4)
      expect(ended.stdout).toMatch(/^\d\d:\d\d:\d\d {2}paused {2}\d+%/m)
      expect(ended.stdout.trimEnd().split("\n").at(-1)).toMatch(new RegExp(`^Job ${jobId} stopped after .+; processed \\d+`))

      // interval before delete: it names the integration by one of its jobs.
      const [interval, stopAll] = await Promise.all([synclog("interval", jobId, "600"), synclog("stop-all", "--integration", "beta")])
      const remove = await synclog("delete", jobId, "--logs")
      expect(interval.code, shown(interval)).toBe(0)
      expect(interval.stdout).toMatch(/^Interval changed from 3600 s to 600 s; next run \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\n$/)
      expect(remove.code, shown(remove)).toBe(0)
      expect(remove.stdout).toBe(`Deleted job ${jobId}\n`)
      expect((await api("GET", `/api/sync/jobs/${jobId}`)).status).toBe(404)
      expect(stopAll.code, shown(stopAll)).toBe(0)
      expect(stopAll.stdout).toBe("No queued or running job to stop\n")
    } finally {
      sim.setFaults({})
      await watch
    }

    const stopped = await synclog("integrations", "stop", "beta", "--json")
    expect(stopped.code, shown(stopped)).toBe(0)
    expect(JSON.parse(stopped.stdout)).toMatchObject({ success: true, integrationId: "beta", activeJobsStopped: 0 })
    expect((await api("GET", "/api/sync/integrations/status")).body.integrations.find((i: { integrationId: string }) => i.integrationId === "beta").status)
      .toBe("stopped")
    const started = await synclog("integrations", "start", "beta", "--type", "full", "--schedule-only")
    expect(started.code, shown(started)).toBe(0)
    expect(started.stdout).not.toContain("(job ")
    expect((await api("GET", "/api/sync/integrations/status")).body.integrations.find((i: { integrationId: string }) => i.integrationId === "beta").status)
      .toBe("active")
  }, SLOW)

  it("set-key on a server without SYNC_MASTER_KEY prints the API's 409 and exits 1", async () => {
    const r = await runSynclog(["integrations", "set-key", "acme", ...conn], { stdin: "some-key\n" })
    expect(r.code, shown(r)).toBe(1)
    expect(r.stdout).toBe("")
    expect(r.stderr).toMatch(/^error: .*SYNC_MASTER_KEY.* \(CredentialsDisabled\)\n$/)
    expect(r.stderr).not.toContain("some-key")
  }, SLOW)

  it("exits 3 when a watched job fails, with the job's error in the summary", async () => {
    const r = await synclog("sync", "refused", "--watch")
    expect(r.code, shown(r)).toBe(3)
    expect(r.stdout.trimEnd().split("\n").at(-1)).toMatch(/^Job sync-job-\w+ failed after .+: Plane refused the API key .+; processed 0/)
  }, SLOW)

  it("draws a progress bar on a terminal, redrawn in place, ending at 100% completed", async () => {
    sim.setFaults({ latencyMs: 20 })
    try {
      const r = await runSynclogInTerminal(["sync", "beta", "--type", "full", "--force", "--batch-size", "2", "--watch", ...conn], {
        columns: 120
      })
      expect(r.code, shown(r)).toBe(0)
      // Redrawn with carriage return and clear-line, never past the terminal's width.
      expect(r.stdout).toContain("\r\x1b[2K[")
      const screen = screenOf(r.stdout).filter((l) => l !== "")
      expect(screen.every((l) => l.length < 120)).toBe(true)
      const jobId = jobIdIn(screen[0]!)!
      const records = total(await sourceCounts(sim, "beta"))
      // What the user sees at the end: the queued line, the bar's final state and the summary.
      expect(screen).toHaveLength(3)
      expect(screen[1]).toBe(
        `[####################] 100% completed  processed ${records} created ${records} updated 0 deleted 0 errors 0`
      )
      expect(screen[2]).toMatch(new RegExp(`^Job ${jobId} completed in .+; processed ${records} created ${records} updated 0`))
    } finally {
      sim.setFaults({})
    }
  }, SLOW)
})

describe("synclog integrations and notifications (the admin commands)", () => {
  let sim: RunningSimulator
  let app: AppHandle
  let receiver: Receiver
  const tmp = tempDir()
  const TOKEN = "cli-admin-token-1"
  /** A key the test can look for in every output: it must never be printed. */
  const SECRET_KEY = "plane_api_cli_secret_9d41f07c"
  const outputs: Array<CliRun> = []
  let conn: Array<string>

  const api = async (method: string, path: string) => {
    const res = await fetch(app.url + path, { method, headers: { authorization: `Bearer ${TOKEN}` } })
    return { status: res.status, body: (await res.json()) as any }
  }
  const synclog = async (args: ReadonlyArray<string>, stdin?: string) => {
    const r = await runSynclog([...args, ...conn], stdin === undefined ? {} : { stdin })
    outputs.push(r)
    return r
  }
  const shown = (r: CliRun) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`
  const ok = (r: CliRun) => {
    expect(r.code, shown(r)).toBe(0)
    expect(r.stderr, shown(r)).toBe("")
    return r.stdout
  }
  /** Exit 1 with the API's message and tag on one line of stderr. */
  const refused = (r: CliRun) => {
    expect(r.code, shown(r)).toBe(1)
    expect(r.stderr.split("\n")).toHaveLength(2)
    return r.stderr.trimEnd()
  }

  beforeAll(async () => {
    sim = await startSimulator({ workspaces: [{ slug: "acme", projects: 1, workItems: 10, seed: 3 }, { slug: "beta", projects: 1, workItems: 5, seed: 4 }] })
    receiver = await startReceiver()
    const down = await freePort()
    const endpoint = (fields: Record<string, unknown>) => Schema.decodeUnknownSync(NotificationEndpointConfig)(fields)
    app = await startApp({
      dbPath: tmp.dbPath,
      apiKey: sim.apiKey,
      apiToken: TOKEN,
      masterKey: randomBytes(32).toString("base64"),
      integrations: [planeIntegration("acme", sim, "acme")],
      notifications: [
        endpoint({ id: "ops", url: `${receiver.url}/hook` }),
        endpoint({ id: "down", url: `http://127.0.0.1:${down}/hook`, events: ["job.failed"] })
      ]
    })
    conn = ["--url", app.url, "--token", TOKEN]
  })

  afterAll(async () => {
    await app?.close()
    await receiver?.close()
    await sim?.close()
    tmp.remove()
  }, SLOW)

  it("creates, lists, changes, keys and deletes an integration; the key is never printed", async () => {
    const created = await synclog([
      "integrations", "create", "--id", "team-b", "--name", "Team B", "--base-url", sim.url, "--workspace", "beta",
      "--every", "900", "--set", "initialSync=scheduled"
    ])
    expect(ok(created)).toBe("Created integration team-b (every 15 m); store its API key with: synclog integrations set-key team-b\n")
    expect((await api("GET", "/api/sync/integrations/team-b")).body).toMatchObject({
      id: "team-b", source: "api", name: "Team B", workspaceSlug: "beta", schedule: { every: 900 }, enabled: true, credential: null
    })

    const [listed, listedJson] = await Promise.all([synclog(["integrations", "list"]), synclog(["integrations", "list", "--json"])])
    const rows = ok(listed).trimEnd().split("\n")
    expect(rows[0]).toMatch(/^INTEGRATION +NAME +SOURCE +ENABLED +SCHEDULE +WINDOW +API KEY$/)
    expect(rows.find((l) => l.startsWith("team-b "))).toMatch(/^team-b +Team B +api +yes +every 15 m +- +none$/)
    expect(rows.find((l) => l.startsWith("acme "))).toMatch(/^acme +Test acme +config +yes +every 1 h +- +\$SYNCLOG_TEST_PLANE_KEY$/)
    expect(JSON.parse(ok(listedJson))).toEqual((await api("GET", "/api/sync/integrations")).body)

    // update: values are JSON when they parse as JSON, else text.
    const updated = await synclog([
      "integrations", "update", "team-b", "--set", "name=Team Bee", "--set", 'schedule={"cron": "0 3 * * *", "timezone": "Europe/Berlin"}'
    ])
    expect(ok(updated)).toMatch(/^Integration team-b changed: (name, schedule|schedule, name)\n$/)
    const shownAfter = ok(await synclog(["integrations", "show", "team-b"]))
    expect(shownAfter).toMatch(/^Name +Team Bee$/m)
    expect(shownAfter).toMatch(/^Source +api /m)
    expect(shownAfter).toMatch(/^Schedule +cron 0 3 \* \* \* \(Europe\/Berlin\)$/m)

    // set-key: the key from stdin; only its fingerprint comes back.
    const keyed = await synclog(["integrations", "set-key", "team-b"], `${SECRET_KEY}\n`)
    const fingerprint = (await api("GET", "/api/sync/integrations/team-b")).body.credential.fingerprint as string
    expect(fingerprint).toMatch(/^[0-9a-f]{4}$/)
    expect(ok(keyed)).toBe(`API key stored; used from the next request, by running jobs too. Fingerprint ${fingerprint}.\n`)
    // The same key again (--json, no newline): the same fingerprint.
    const [keyedJson, shownKeyed, listedKeyed, noKey] = await Promise.all([
      synclog(["integrations", "set-key", "team-b", "--json"], SECRET_KEY),
      synclog(["integrations", "show", "team-b"]),
      synclog(["integrations", "list", "--json"]),
      // No key on stdin: a usage error, nothing sent.
      synclog(["integrations", "set-key", "team-b"])
    ])
    expect(JSON.parse(ok(keyedJson)).credential.fingerprint).toBe(fingerprint)
    expect(ok(shownKeyed)).toMatch(new RegExp(`^API key +stored ${fingerprint}$`, "m"))
    expect(ok(listedKeyed)).toContain(fingerprint)
    expect(noKey.code, shown(noKey)).toBe(2)
    expect(noKey.stderr).toBe("no API key given: pipe it on stdin or type it at the prompt\n")

    expect(ok(await synclog(["integrations", "delete-key", "team-b"]))).toBe("Deleted the stored API key of team-b\n")
    expect(ok(await synclog(["integrations", "delete-key", "team-b"]))).toBe("team-b had no stored API key\n")
    expect((await api("GET", "/api/sync/integrations/team-b")).body.credential).toBeNull()

    const removed = await synclog(["integrations", "delete", "team-b", "--purge-mirror"])
    expect(ok(removed)).toBe("Deleted integration team-b; purged 0 mirrored record(s)\n")
    expect((await api("GET", "/api/sync/integrations/team-b")).status).toBe(404)
    expect(refused(await synclog(["integrations", "show", "team-b"]))).toMatch(/^error: .*team-b.* \(IntegrationNotFound\)$/)

    for (const r of outputs) expect(r.stdout + r.stderr).not.toContain(SECRET_KEY)
  }, 2 * SLOW)

  it("prints the API's 400 and 409 messages and exits 1; bad usage exits 2", async () => {
    const [taken, managed, invalid, noChange, badSet] = await Promise.all([
      synclog(["integrations", "create", "--id", "acme", "--name", "Again", "--base-url", sim.url, "--workspace", "acme", "--every", "600"]),
      synclog(["integrations", "update", "acme", "--set", "syncInterval=600"]),
      synclog(["integrations", "create", "--id", "bad", "--name", "Bad", "--base-url", "not a url", "--workspace", "x", "--every", "5"]),
      synclog(["integrations", "update", "acme"]),
      synclog(["integrations", "update", "acme", "--set", "novalue"])
    ])
    expect(refused(taken)).toMatch(/^error: An integration with id 'acme' exists already.* \(IntegrationExists\)$/)
    expect(refused(managed)).toMatch(/^error: Integration acme comes from the config file.* \(IntegrationManagedByConfig\)$/)
    expect(refused(invalid)).toMatch(/^error: Invalid integration: .*baseUrl: .*schedule.* \(ValidationError\)$/)
    expect(noChange.code, shown(noChange)).toBe(2)
    expect(noChange.stderr).toBe("nothing to change: give --set key=value or --file\n")
    expect(badSet.code, shown(badSet)).toBe(2)
    expect(badSet.stderr).toContain("--set takes key=value, got 'novalue'")
  }, SLOW)

  it("lists webhook endpoints and sends test notifications to a receiver", async () => {
    const [plain, listed, listedJson] = await Promise.all([
      synclog(["notifications"]),
      synclog(["notifications", "list"]),
      synclog(["notifications", "list", "--json"])
    ])
    expect(ok(plain)).toBe(ok(listed))
    const rows = plain.stdout.trimEnd().split("\n")
    expect(rows[0]).toMatch(/^ENDPOINT +URL +FORMAT +EVENTS +PENDING +LAST SUCCESS +LAST ERROR +GIVEN UP$/)
    expect(rows[1]).toMatch(new RegExp(`^ops +${receiver.url}/hook +json +job.failed,circuit.opened,circuit.closed +0 +- +- +0$`))
    expect(rows[2]).toMatch(/^down +http:\/\/127\.0\.0\.1:\d+\/hook +json +job.failed +0 +- +- +0$/)
    expect(JSON.parse(ok(listedJson))).toEqual((await api("GET", "/api/sync/notifications")).body)

    const before = receiver.received.length
    const one = await synclog(["notifications", "test", "--endpoint", "ops"])
    expect(ok(one)).toBe("ops: delivered (200)\n")
    expect(receiver.received.length).toBe(before + 1)
    expect(receiver.received.at(-1)!.headers["x-synclog-event"]).toBe("test")

    // One endpoint down: each outcome on stdout, and exit 1 with the count.
    const all = await synclog(["notifications", "test"])
    expect(all.code, shown(all)).toBe(1)
    expect(all.stdout).toBe("ops: delivered (200)\ndown: not delivered: connection refused\n")
    expect(all.stderr).toBe("error: 1 of 2 endpoint(s) did not take the test notification (NotDelivered)\n")
    const allJson = await synclog(["notifications", "test", "--json"])
    expect(allJson.code).toBe(1)
    expect(JSON.parse(allJson.stdout).results.map((r: { delivered: boolean }) => r.delivered)).toEqual([true, false])

    expect(refused(await synclog(["notifications", "test", "--endpoint", "nope"]))).toMatch(/^error: No webhook endpoint 'nope'.* \(NotFound\)$/)
  }, SLOW)
})
