import fc from "fast-check"
import { chunk, lastChunk } from "./raw.js"

/**
 * Generators of bad HTTP requests for the fuzz test (test/fuzz.e2e.test.ts): methods, paths,
 * headers, content types, bodies and body framing, each often wrong on purpose, written as
 * bytes for a bare TCP socket.
 */

const MB = 1024 * 1024

/** One request as it goes on the wire: every part may be wrong on purpose. */
export interface FuzzRequest {
  readonly method: string
  readonly path: string
  readonly version: string
  readonly host: boolean
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly framing: "none" | "length" | "chunked" | "bad-chunks"
  readonly body: Buffer
}

/** A CR or LF in a random part would end its line early and frame some other request. */
const noLineBreaks = (s: string) => s.replace(/[\r\n]/g, "")

/**
 * Any code point, control characters and non-ASCII included (fast-check's own "binary" unit
 * builds a table of every code point first, a second of CPU per use).
 */
const anyCharArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 0xff }) },
  { weight: 1, arbitrary: fc.integer({ min: 0x100, max: 0x10ffff }) }
).map((code) => String.fromCodePoint(code))
const binaryStringArb = (maxLength: number) => fc.string({ maxLength, unit: anyCharArb })

const methodArb = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS") },
  { weight: 1, arbitrary: fc.constantFrom("get", "post", "FOO", "M-SEARCH", "PROPFIND", "TRACE", "CONNECT", "G ET", "", "POST\u0000", "PÖST") },
  { weight: 1, arbitrary: binaryStringArb(12).map(noLineBreaks) }
)

const segmentArb = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom("sync-job-doesnotexist", "fuzz-integration", "nope", "work_items", "projects", "1") },
  {
    weight: 2,
    arbitrary: fc.constantFrom("%zz", "%", "%2F", "%00", "..", ".", "a b", "ü", "%F0%9F%98%80", "😀", "x".repeat(3000), ";", "?", "#", "~")
  },
  { weight: 2, arbitrary: fc.string({ maxLength: 16 }) },
  { weight: 1, arbitrary: binaryStringArb(16).map(noLineBreaks) }
)

const queryArb = fc.array(
  fc.oneof(
    fc.constantFrom("limit=0", "limit=abc", "limit=1e9", "limit=", "offset=-1", "status=sleeping", "status=pending,running", "type=full", "entity=work_items", "updatedSince=yesterday", "includeDeleted=maybe", "cursor=%zz", "integrationId[]=x", "a=%zz", "&&", "="),
    fc.string({ maxLength: 12 })
  ),
  { maxLength: 4 }
).map((parts) => (parts.length === 0 ? "" : `?${parts.join("&")}`))

const pathArb = fc.tuple(
  fc.oneof(
    fc.constantFrom("/healthz", "/openapi.json", "/docs", "/api/sync/jobs", "/api/sync/jobs/stop-all", "/api/sync/integrations/status", "/api/sync/initialize", "/", "*", "//", "/api/sync/jobs/", "/api", "/api/sync/nothing"),
    segmentArb.map((s) => `/api/sync/jobs/${s}`),
    fc.tuple(segmentArb, fc.constantFrom("stop", "pause", "resume", "interval", "logs", "events", "")).map(([s, tail]) => `/api/sync/jobs/${s}/${tail}`),
    fc.tuple(segmentArb, fc.constantFrom("start", "stop", "records")).map(([s, tail]) => `/api/sync/integrations/${s}/${tail}`),
    fc.tuple(segmentArb, segmentArb).map(([entity, id]) => `/api/sync/integrations/fuzz-integration/records/${entity}/${id}`),
    fc.string({ maxLength: 30 }).map((s) => `/${s}`)
  ),
  queryArb
).map(([path, query]) => path + query)

const contentTypeArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("application/json", "application/json; charset=utf-8", "text/plain", "application/x-www-form-urlencoded") },
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      "application/problem+json",
      "application/vnd.api+json",
      "application/x-ndjson",
      "multipart/form-data; boundary=fuzz",
      "multipart/form-data",
      "multipart/mixed; boundary=fuzz",
      "application/octet-stream",
      "application/xml",
      "text/html",
      "text/json",
      "application/json; charset=utf-16",
      "application/jsonx",
      ";;;",
      "*/*",
      ""
    )
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) }
)

const headersArb = fc.tuple(
  fc.option(contentTypeArb, { freq: 4 }),
  fc.subarray([
    ["Accept", "application/json"],
    ["Accept", "text/html"],
    ["Accept-Encoding", "gzip, br"],
    ["Content-Encoding", "gzip"],
    ["Authorization", "Bearer nonsense"],
    ["Cookie", "a=b; =; c"],
    ["Expect", "100-continue"],
    ["Expect", "200-ok"],
    ["Upgrade", "websocket"],
    ["Connection", "Upgrade"],
    ["Upgrade", "h2c"],
    ["Origin", "http://evil.example"],
    ["X-Forwarded-For", "::1, 300.1.1.1"],
    ["Transfer-Encoding", "gzip"],
    ["X-Big", "b".repeat(20 * 1024)]
  ] as Array<[string, string]>, { maxLength: 3 }),
  fc.array(
    fc.tuple(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/),
      fc.oneof(fc.string({ maxLength: 40 }), binaryStringArb(20).map(noLineBreaks))
    ),
    { maxLength: 3 }
  )
).map(([contentType, common, random]) => [
  ...(contentType === null ? [] : [["Content-Type", contentType] as const]),
  ...common,
  // A random name may collide with one that frames the body; the framing headers come last.
  ...random.filter(([name]) => !/^(content-length|transfer-encoding|host|connection)$/i.test(name))
])

/** Two large bodies, made once: one just under the 1 MB limit, one over it. */
const largeBodies = [0.9 * MB, 1.2 * MB].map((size) => Buffer.from(JSON.stringify({ pad: "x".repeat(Math.floor(size)) })))

const nested = (depth: number, open: string, close: string, inner: string) => open.repeat(depth) + inner + close.repeat(depth)

const bodyArb: fc.Arbitrary<string | Uint8Array | Buffer> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom("", " ", "\n\t ", "null", "[]", "{}", "\"text\"", "42", "true", "{", "}", "\uFEFF{}", "{\"a\":1,}", "[1,2", "{'a': 1}") },
  {
    weight: 12,
    arbitrary: fc.record({
      integrationId: fc.oneof(fc.constantFrom("fuzz-integration", "nope"), fc.string(), fc.integer(), fc.constant(null)),
      type: fc.oneof(fc.constantFrom("full", "incremental_sync", "selective", "bogus"), fc.string(), fc.boolean()),
      options: fc.record({
        force: fc.oneof(fc.boolean(), fc.string()),
        batchSize: fc.oneof(fc.integer(), fc.double(), fc.string()),
        entities: fc.oneof(fc.array(fc.constantFrom("work_items", "labels", "pages")), fc.string()),
        projects: fc.array(fc.string(), { maxLength: 3 })
      }, { requiredKeys: [] }),
      interval: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(1e308)),
      graceful: fc.oneof(fc.boolean(), fc.string()),
      deleteLogs: fc.oneof(fc.boolean(), fc.integer()),
      syncType: fc.string(),
      scheduleImmediate: fc.anything()
    }, { requiredKeys: [] }).map((o) => JSON.stringify(o))
  },
  { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)) },
  { weight: 4, arbitrary: binaryStringArb(200) },
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 300 }) },
  {
    weight: 4,
    arbitrary: fc.tuple(fc.integer({ min: 20, max: 5000 }), fc.constantFrom(["[", "]"], ["{\"a\":", "}"])).map(([depth, [open, close]]) =>
      nested(depth, open!, close!, open === "[" ? "" : "1")
    )
  },
  // Large bodies, under and over the 1 MB limit, now and then (one request in forty).
  { weight: 1, arbitrary: fc.constantFrom(...largeBodies) }
)

export const requestArb: fc.Arbitrary<FuzzRequest> = fc.record({
  method: methodArb,
  path: pathArb,
  version: fc.oneof({ weight: 20, arbitrary: fc.constant("HTTP/1.1") }, { weight: 1, arbitrary: fc.constantFrom("HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", "") }),
  host: fc.oneof({ weight: 20, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  headers: headersArb,
  framing: fc.constantFrom("none", "length", "length", "chunked", "bad-chunks"),
  body: bodyArb.map((b) => (Buffer.isBuffer(b) ? b : Buffer.from(b)))
})

/** The request's bytes: head, then the body framed as `framing` says (or no body). */
export const toWire = (r: FuzzRequest) => {
  const lines = [`${r.method} ${r.path}${r.version ? ` ${r.version}` : ""}`]
  if (r.host) lines.push("Host: 127.0.0.1")
  for (const [name, value] of r.headers) lines.push(`${name}: ${value}`)
  let body: Buffer = Buffer.alloc(0)
  if (r.framing === "length") {
    lines.push(`Content-Length: ${r.body.length}`)
    body = r.body
  } else if (r.framing === "chunked") {
    lines.push("Transfer-Encoding: chunked")
    const half = Math.floor(r.body.length / 2)
    body = Buffer.concat([
      ...[r.body.subarray(0, half), r.body.subarray(half)].filter((part) => part.length > 0).map((part) => chunk(part)),
      Buffer.from(lastChunk)
    ])
  } else if (r.framing === "bad-chunks") {
    lines.push("Transfer-Encoding: chunked")
    body = Buffer.concat([Buffer.from("zz\r\n"), r.body, Buffer.from("\r\n0\r\n\r\n")])
  }
  lines.push("Connection: close")
  return { head: Buffer.from(lines.join("\r\n") + "\r\n\r\n", "utf8"), body }
}

/** The request for a failure message, long parts cut. */
export const describeRequest = (r: FuzzRequest) =>
  JSON.stringify({ ...r, path: r.path.slice(0, 200), headers: r.headers.map(([n, v]) => [n, v.slice(0, 100)]), body: r.body.subarray(0, 200).toString("utf8") + (r.body.length > 200 ? `... (${r.body.length} bytes)` : "") })
