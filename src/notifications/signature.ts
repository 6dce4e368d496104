import { createHmac } from "node:crypto"

/**
 * `X-Synclog-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the endpoint's
 * secret. The timestamp is part of the signed text, so a receiver that also rejects old
 * timestamps cannot be fed a recorded delivery again.
 */
const signatureOf = (secret: string, timestampSeconds: number, body: string): string =>
  `sha256=${createHmac("sha256", secret).update(`${timestampSeconds}.${body}`).digest("hex")}`

/** The headers of a signed delivery. */
export const signatureHeaders = (secret: string, timestampSeconds: number, body: string) => ({
  "x-synclog-timestamp": String(timestampSeconds),
  "x-synclog-signature": signatureOf(secret, timestampSeconds, body)
})
