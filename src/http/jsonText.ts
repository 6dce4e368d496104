import { HttpServerResponse } from "@effect/platform"

/**
 * A JSON body already serialised, sent as it is: Node writes a string body with the headers in
 * one piece, where `text` would first encode it to bytes (a copy, and a second chunk to write).
 * For the hot reads whose JSON the engine builds (job list and detail, integration status).
 */
export const jsonText = (body: string) =>
  HttpServerResponse.raw(body, { contentType: "application/json", contentLength: Buffer.byteLength(body) })
