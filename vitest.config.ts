import { configDefaults, defineConfig } from "vitest/config"

/**
 * The suites that also run on PostgreSQL when SYNC_TEST_DATABASE_URL names a server whose user
 * may create databases (`.ci/run` starts a throwaway one): each test server then gets a fresh
 * database (test/support/database.ts). Without the variable, everything runs on SQLite only.
 */
const POSTGRES_SUITES = [
  "test/api.e2e.test.ts",
  "test/semantics.e2e.test.ts",
  "test/property.e2e.test.ts",
  "test/crash.e2e.test.ts"
]
/** Suites that need PostgreSQL (a cluster of runners shares one): only in the postgres project. */
const POSTGRES_ONLY_SUITES = ["test/cluster.runners.e2e.test.ts", "test/cluster.e2e.test.ts"]
const postgresUrl = process.env.SYNC_TEST_DATABASE_URL || undefined

const ALL_SUITES = ["test/**/*.test.ts"]
const SQLITE_EXCLUDE = [...configDefaults.exclude, ...POSTGRES_ONLY_SUITES]

export default defineConfig({
  test: {
    // Set per project when there are two: a project that extends this config adds its own
    // `include` to the root's instead of replacing it.
    ...(postgresUrl === undefined ? { include: ALL_SUITES, exclude: SQLITE_EXCLUDE } : {}),
    setupFiles: ["./test/setup.ts"],
    // The server's and the CLI's bundles, which child processes run (test/support/bundle.ts).
    globalSetup: ["./test/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Each test file starts its own server, simulator and database; two cores here.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    // With a PostgreSQL server: every suite on SQLite first, then the listed ones on PostgreSQL.
    ...(postgresUrl === undefined ? {} : {
      projects: [
        { extends: true, test: { name: "sqlite", include: ALL_SUITES, exclude: SQLITE_EXCLUDE, env: { SYNC_TEST_DATABASE_URL: "" }, sequence: { groupOrder: 0 } } },
        {
          extends: true,
          test: {
            name: "postgres",
            include: [...POSTGRES_SUITES, ...POSTGRES_ONLY_SUITES],
            // Half the property test's random runs: each statement is a round trip here, and
            // the first pass has run all ten on SQLite.
            env: { SYNC_TEST_DATABASE_URL: postgresUrl, SYNCLOG_PROPERTY_RUNS: process.env.SYNCLOG_PROPERTY_RUNS ?? "5" },
            sequence: { groupOrder: 1 }
          }
        }
      ]
    })
  }
})
