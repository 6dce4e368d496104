/**
 * The last touches to the generated OpenAPI document (`OpenApi.Transform` on SyncApi), so that it
 * describes what the server really does and clients generated from it need no casts:
 * - request decoding failures answer ValidationError, never HttpApiDecodeError;
 * - the edge's body errors (MalformedJson, 413, 415) only on methods that carry a body;
 * - bodies whose every field is optional (`optionalBody`, which accepts `null`) are not required;
 * - the bearer token: described, required on `/api/` routes, 401 only where it is, 403 (a
 *   read-only token) only on writes;
 * - array query parameters are comma lists (`status=queued,running`).
 */
type Json = Record<string, any>

const BEARER_DESCRIPTION =
  "`Authorization: Bearer <token>`. Required when the server runs with SYNC_API_TOKEN set " +
  "(without it the API is open); a SYNC_READ_TOKEN token allows GET requests only."

/** What each error status means here (the generator names only the first error class). */
const ERROR_DESCRIPTIONS: Record<string, string> = {
  "401": "Missing or wrong API token",
  "403": "The token may only read (GET)",
  "404": "Unknown route, job, integration or record",
  "409": "The job's or integration's current state forbids this",
  "413": "The request body is over 1 MiB",
  "415": "The request body is not JSON",
  "500": "A bug; it has been logged (never a stack trace)"
}

const METHODS_WITHOUT_BODY = new Set(["get", "head", "options"])
const EDGE_BODY_STATUSES = ["413", "415"]
const schemaRef = (name: string) => `#/components/schemas/${name}`

const isNullSchema = (schema: Json) => schema.type === "null"

/** Removes the members a predicate picks from an `anyOf`; a single survivor replaces it. */
const withoutMembers = (schema: Json, drop: (member: Json) => boolean): Json => {
  if (!Array.isArray(schema.anyOf)) return schema
  const kept = (schema.anyOf as Array<Json>).filter((member) => !drop(member))
  const { anyOf: _, ...rest } = schema
  return kept.length === 1 ? { ...rest, ...kept[0] } : { ...rest, anyOf: kept }
}

const operationsOf = (doc: Json) =>
  Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json).map(([method, operation]) => ({ path, method, operation: operation as Json }))
  )

const forEachJsonResponse = (operation: Json, f: (status: string, content: Json) => void) => {
  for (const [status, response] of Object.entries(operation.responses as Json)) {
    const content = (response as Json).content?.["application/json"]
    if (content?.schema !== undefined) f(status, content)
  }
}

/** Names of the component schemas reachable from the paths and from each other. */
const reachableSchemas = (doc: Json): Set<string> => {
  const prefix = schemaRef("")
  const seen = new Set<string>()
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit)
    if (value === null || typeof value !== "object") return
    for (const [key, inner] of Object.entries(value)) {
      if (key === "$ref" && typeof inner === "string" && inner.startsWith(prefix)) {
        const name = inner.slice(prefix.length)
        if (!seen.has(name)) {
          seen.add(name)
          visit(doc.components.schemas[name])
        }
      } else {
        visit(inner)
      }
    }
  }
  visit(doc.paths)
  return seen
}

export const finishOpenApiDocument = (generated: Json): Json => {
  const doc = structuredClone(generated)
  const schemes = (doc.components.securitySchemes ??= {}) as Json
  // The Authorization middleware declares the scheme (with its description); this covers the rest.
  schemes.bearer = { type: "http", scheme: "bearer", description: BEARER_DESCRIPTION, ...schemes.bearer }

  for (const { method, operation, path } of operationsOf(doc)) {
    const hasBody = !METHODS_WITHOUT_BODY.has(method)

    // Route-based auth marks its routes itself; until then (and for any route it misses) the
    // edge checks the token on every /api/ path.
    if (path.startsWith("/api/") && (operation.security ?? []).length === 0) {
      operation.security = [{ bearer: [] }]
    }
    const secured = (operation.security ?? []).length > 0
    if (!secured) {
      delete operation.responses["401"]
      delete operation.responses["403"]
    }
    if (!hasBody) {
      for (const status of EDGE_BODY_STATUSES) delete operation.responses[status]
      // A read-only token may GET anything: 403 only answers writes.
      delete operation.responses["403"]
    }

    // Nothing to validate without parameters or a payload: a 400 can then only be MalformedJson.
    const validates = (operation.parameters ?? []).length > 0 || operation.requestBody !== undefined
    forEachJsonResponse(operation, (status, content) => {
      content.schema = withoutMembers(content.schema, (member) =>
        member.$ref === schemaRef("HttpApiDecodeError") ||
        (!hasBody && member.$ref === schemaRef("MalformedJson")) ||
        (!validates && member.$ref === schemaRef("ValidationError")))
      const description = ERROR_DESCRIPTIONS[status]
      if (description !== undefined) operation.responses[status].description = description
    })
    if (operation.responses["400"] !== undefined) {
      operation.responses["400"].description = validates && hasBody
        ? "Invalid input: ValidationError names each bad field in `issues`; MalformedJson when the body is not JSON"
        : validates
        ? "Invalid input: ValidationError names each bad parameter in `issues`"
        : "MalformedJson: the body is not JSON"
      if (!validates && !hasBody) delete operation.responses["400"]
    }

    const body = operation.requestBody?.content?.["application/json"]
    if (body !== undefined && Array.isArray(body.schema.anyOf) && body.schema.anyOf.some(isNullSchema)) {
      body.schema = withoutMembers(body.schema, isNullSchema)
      operation.requestBody.required = false
    }

    for (const parameter of operation.parameters ?? []) {
      if (parameter.in === "query" && parameter.schema?.type === "array") {
        parameter.style = "form"
        parameter.explode = false
      }
    }
  }

  const reachable = reachableSchemas(doc)
  for (const name of Object.keys(doc.components.schemas)) {
    if (!reachable.has(name)) delete doc.components.schemas[name]
  }
  return doc
}
