import { HttpApiBuilder, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Deferred, Effect } from "effect"
import { createHash } from "node:crypto"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { errorBody } from "../domain/errors.js"

/**
 * The web dashboard's three public files: `/` (the page), `/assets/app.js`, `/assets/app.css`.
 * They hold no data (every data call of the page needs the token), so they sit beside the
 * HttpApi as exact routes, outside the API groups and their Authorization.
 */

interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
  readonly etag: string
}

interface Assets {
  readonly page: Asset
  readonly js: Asset
  readonly css: Asset
}

const asset = (body: string | Uint8Array, contentType: string): Asset => {
  const bytes = typeof body === "string" ? new TextEncoder().encode(body) : body
  return { body: bytes, contentType, etag: `"${createHash("sha256").update(bytes).digest("base64url").slice(0, 27)}"` }
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<link rel="icon" href="data:,">
<title>synclog</title>
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/app.js" defer></script>
</head>
<body>
<noscript>The synclog dashboard needs JavaScript; the API is documented at <a href="/docs">/docs</a>.</noscript>
</body>
</html>
`

/** Nothing but synclog's own files: no inline script, no other origin, no framing. */
const CONTENT_SECURITY_POLICY =
  "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/**
 * The same esbuild options as `npm run build`'s dashboard step (package.json): one script, its
 * CSS imported by it, minified for browsers of the last few years.
 */
const DASHBOARD_BUILD_OPTIONS = {
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  entryNames: "app",
  logLevel: "silent"
} as const

const here = dirname(fileURLToPath(import.meta.url))

/**
 * The server bundle (`dist/main.js`) serves the files `npm run build` wrote next to it
 * (`dist/dashboard/`); from the sources (tests, `tsx`) the page is bundled in memory at the
 * first request, so it is never stale. esbuild is imported only then.
 */
const loadAssets: Effect.Effect<Assets, Error> = Effect.gen(function*() {
  const built = join(here, "dashboard")
  if (existsSync(join(built, "app.js")) && existsSync(join(built, "app.css"))) {
    return {
      page: asset(PAGE, "text/html; charset=utf-8"),
      js: asset(readFileSync(join(built, "app.js")), "text/javascript; charset=utf-8"),
      css: asset(readFileSync(join(built, "app.css")), "text/css; charset=utf-8")
    }
  }
  const candidates = [join(here, "..", "dashboard", "main.ts"), join(process.cwd(), "src", "dashboard", "main.ts")]
  const entry = candidates.find((path) => existsSync(path))
  if (entry === undefined) {
    return yield* Effect.fail(new Error("the dashboard's files are missing; run `npm run build`"))
  }
  const result = yield* Effect.tryPromise({
    try: async () => {
      // A computed specifier keeps esbuild (native) out of the server bundle.
      const specifier = "esbuild"
      const esbuild: typeof import("esbuild") = await import(specifier)
      return esbuild.build({ ...DASHBOARD_BUILD_OPTIONS, entryPoints: [entry], outdir: "out", write: false })
    },
    catch: (e) => new Error(`the dashboard could not be bundled: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`)
  })
  const file = (ext: string) => result.outputFiles.find((f) => f.path.endsWith(`app.${ext}`))?.contents ?? new Uint8Array()
  return {
    page: asset(PAGE, "text/html; charset=utf-8"),
    js: asset(file("js"), "text/javascript; charset=utf-8"),
    css: asset(file("css"), "text/css; charset=utf-8")
  }
})

const serve = (pick: (assets: Assets) => Asset, load: Effect.Effect<Assets, Error>, extraHeaders: Record<string, string>) =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const loaded = yield* Effect.either(load)
    if (loaded._tag === "Left") {
      yield* Effect.logError(`Dashboard unavailable: ${loaded.left.message}`)
      return HttpServerResponse.unsafeJson(
        errorBody("DashboardUnavailable", `The dashboard is unavailable: ${loaded.left.message}`),
        { status: 503 }
      )
    }
    const file = pick(loaded.right)
    // Not fingerprinted URLs: browsers revalidate each time and mostly get a 304.
    const headers = { "cache-control": "no-cache", etag: file.etag, "x-content-type-options": "nosniff", ...extraHeaders }
    if (request.headers["if-none-match"] === file.etag) {
      return HttpServerResponse.empty({ status: 304, headers })
    }
    return HttpServerResponse.uint8Array(file.body, { contentType: file.contentType, headers })
  })

export const DashboardLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    // Bundled once (at the first request), then served from memory. The bundling runs in its own
    // fiber: a first request that is given up (its client went away) must not cancel it for the
    // requests waiting on the same result.
    const assets = yield* Deferred.make<Assets, Error>()
    let started = false
    const load = Effect.suspend(() => {
      if (!started) {
        started = true
        return Effect.zipRight(Effect.forkDaemon(Deferred.complete(assets, loadAssets)), Deferred.await(assets))
      }
      return Deferred.await(assets)
    })
    yield* router.get("/", serve((a) => a.page, load, { "content-security-policy": CONTENT_SECURITY_POLICY, "referrer-policy": "no-referrer" }))
    yield* router.get("/assets/app.js", serve((a) => a.js, load, {}))
    yield* router.get("/assets/app.css", serve((a) => a.css, load, {}))
  })
)
