import { HttpMethod, type HttpServerRequest, HttpServerResponse, UrlParams } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Either, Stream } from "effect"
import type { IncomingMessage } from "node:http"
import { errorBody } from "../domain/errors.js"

/** Bodies are small JSON documents; anything larger is refused with 413. */
const MAX_BODY_BYTES = 1024 * 1024

/** The API's bodies nest two or three levels; deeper documents are refused before decoding. */
const MAX_JSON_DEPTH = 32

const refuse = (status: number, error: string, message: string, closeConnection = false) =>
  HttpServerResponse.unsafeJson(
    errorBody(error, message),
    // Closing tells the client to stop sending a body the server will not read.
    { status, ...(closeConnection ? { headers: { connection: "close" } } : {}) }
  )

const tooLarge = (detail: string) =>
  refuse(413, "PayloadTooLarge", `The request body ${detail}; the limit is ${MAX_BODY_BYTES} bytes. Send a smaller JSON document.`, true)

/**
 * V8 quotes a slice of the text around a JSON syntax error; a body may hold a secret (an API
 * key sent to `.../credentials`), so the answer keeps only what and where.
 */
const withoutQuote = (message: string) => {
  if (!message.includes('"')) return message
  const position = /at position (\d+)/.exec(message)
  return `unexpected character${position ? ` at position ${position[1]}` : ""}`
}

const malformed = (message: string) => refuse(400, "MalformedJson", message)

/**
 * The body is read as JSON when it is declared JSON (`application/json`, any `application/*+json`)
 * or declared as nothing, plain text or a form (curl -d sends form-urlencoded). NDJSON, multipart
 * and everything else are a 415: the API takes one JSON document per request.
 */
const readsAsJson = (contentType: string) => {
  const mediaType = contentType.split(";", 1)[0]!.trim().toLowerCase()
  return mediaType === "" || mediaType === "application/json" || /^application\/[^/\s]+\+json$/.test(mediaType) ||
    mediaType === "text/plain" || mediaType === "application/x-www-form-urlencoded"
}

/** Whether arrays and objects nest deeper than `limit`; a linear scan, nothing recursive. */
const nestsDeeperThan = (text: string, limit: number) => {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: the next character is escaped
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return false
}

type ReadFailure = "TooLarge" | "Aborted"

/**
 * Reads the body off the socket, up to `limit` bytes. Past the limit it stops keeping bytes and
 * lets the rest drain unread until the 413 closes the connection: the platform's own reader
 * destroys the socket instead, so the client saw a reset rather than the 413.
 */
const readUpTo = (source: IncomingMessage, limit: number) =>
  Effect.async<Buffer, ReadFailure>((resume) => {
    if (source.readableEnded) {
      resume(Effect.dieMessage("The request body was read before the body checks"))
      return
    }
    const chunks: Array<Buffer> = []
    let bytes = 0
    const stop = () => {
      source.off("data", onData)
      source.off("end", onEnd)
      source.off("error", onAborted)
      source.off("close", onAborted)
    }
    function onData(chunk: Buffer) {
      bytes += chunk.length
      if (bytes <= limit) {
        chunks.push(chunk)
        return
      }
      stop()
      chunks.length = 0
      source.resume()
      resume(Effect.fail("TooLarge"))
    }
    function onEnd() {
      stop()
      resume(Effect.succeed(Buffer.concat(chunks, bytes)))
    }
    function onAborted() {
      stop()
      resume(Effect.fail("Aborted"))
    }
    source.on("data", onData)
    source.once("end", onEnd)
    source.once("error", onAborted)
    source.once("close", onAborted)
    return Effect.sync(stop)
  })

/**
 * The request as the API sees it: declared JSON, its body already read. Every way the platform
 * reads a body (text, json, bytes, stream) answers from what was read here; reading the
 * exhausted socket again would wait forever.
 */
const withBody = (request: HttpServerRequest.HttpServerRequest, body: Buffer, parsed: unknown): HttpServerRequest.HttpServerRequest => {
  const asJson = request.modify({ headers: { ...request.headers, "content-type": "application/json" } })
  const text = body.toString("utf8")
  const bytes = new Uint8Array(body)
  const read: HttpServerRequest.HttpServerRequest = Object.create(asJson)
  Object.defineProperties(read, {
    text: { value: Effect.succeed(text) },
    json: { value: Effect.succeed(parsed) },
    arrayBuffer: { value: Effect.succeed(bytes.buffer) },
    stream: { value: Stream.succeed(bytes) },
    urlParamsBody: { value: Effect.succeed(UrlParams.fromInput(new URLSearchParams(text))) },
    modify: { value: (options: Parameters<typeof request.modify>[0]) => withBody(asJson.modify(options), body, parsed) }
  })
  return read
}

/**
 * Whether `checkBody` has anything to do: a request whose body is never read (GET, HEAD, OPTIONS)
 * and that declares no oversized one passes as it is, without a check on the hot read path.
 */
export const needsBodyCheck = (request: HttpServerRequest.HttpServerRequest): boolean =>
  HttpMethod.hasBody(request.method) || declaredLengthOf(request) > MAX_BODY_BYTES

const declaredLengthOf = (request: HttpServerRequest.HttpServerRequest) => Number(request.headers["content-length"] ?? "0")

/**
 * Every body is checked before any handler runs (so a bad body changes nothing): its declared
 * and its actual size, its content type, that it is JSON and how deep it nests. Right: the
 * request to hand on; Left: the answer.
 */
export const checkBody = (
  request: HttpServerRequest.HttpServerRequest
): Effect.Effect<Either.Either<HttpServerRequest.HttpServerRequest, HttpServerResponse.HttpServerResponse>> =>
  Effect.gen(function*() {
    const declaredLength = declaredLengthOf(request)
    if (declaredLength > MAX_BODY_BYTES) return Either.left(tooLarge(`is ${declaredLength} bytes`))
    // GET, HEAD and OPTIONS bodies are never read; Node discards them.
    if (!HttpMethod.hasBody(request.method)) return Either.right(request)

    const hasBody = request.headers["transfer-encoding"] !== undefined || declaredLength > 0
    const contentType = request.headers["content-type"] ?? ""
    if (hasBody && !readsAsJson(contentType)) {
      return Either.left(refuse(
        415,
        "UnsupportedMediaType",
        `Bodies of type '${contentType.slice(0, 100)}' are not accepted; send a JSON document with Content-Type: application/json`,
        true
      ))
    }
    // Node parses the body of a request asking for an Upgrade, but drops framing errors in a
    // chunked one silently (it expects another protocol to follow): the body would never end.
    if (request.headers["upgrade"] !== undefined && request.headers["transfer-encoding"] !== undefined) {
      return Either.left(refuse(
        400,
        "BadRequest",
        "A request asking to upgrade the connection cannot send a chunked body here; send it with Content-Length, or without the Upgrade header",
        true
      ))
    }
    const read = yield* Effect.either(readUpTo(NodeHttpServerRequest.toIncomingMessage(request), MAX_BODY_BYTES))
    if (Either.isLeft(read)) {
      return Either.left(
        read.left === "TooLarge"
          ? tooLarge(`passed ${MAX_BODY_BYTES} bytes`)
          : refuse(400, "RequestAborted", "The request body ended before it was complete; send it again")
      )
    }
    const body = read.right
    const text = body.toString("utf8")
    if (text === "") return Either.right(withBody(request, body, null))
    if (text.trim() === "") {
      return Either.left(malformed("The request body is only whitespace; send a JSON document, or no body at all"))
    }
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      return Either.left(malformed(`The request body nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep; the API's bodies need three`))
    }
    try {
      return Either.right(withBody(request, body, JSON.parse(text)))
    } catch (e) {
      return Either.left(malformed(`The request body is not valid JSON: ${withoutQuote((e as Error).message)}`))
    }
  })
