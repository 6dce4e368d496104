import { Either, Redacted } from "effect"
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"

/** AES-256-GCM: a 32-byte key, a fresh 12-byte IV per encryption, a 16-byte tag. */
const ALGORITHM = "aes-256-gcm"
const IV_BYTES = 12

interface Sealed {
  readonly iv: Uint8Array
  readonly ciphertext: Uint8Array
  readonly tag: Uint8Array
}

/**
 * `SYNC_MASTER_KEY`: 32 bytes in base64 (`openssl rand -base64 32`). Anything else is refused
 * with a message that says so and never quotes the value.
 */
export const parseMasterKey = (text: string): Either.Either<Redacted.Redacted<Buffer>, string> => {
  const trimmed = text.trim()
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) ? Buffer.from(trimmed, "base64") : undefined
  if (bytes === undefined || bytes.length !== 32) {
    return Either.left(
      `SYNC_MASTER_KEY must be 32 random bytes in base64 (44 characters, e.g. the output of \`openssl rand -base64 32\`); ` +
        `got ${bytes === undefined ? "text that is not base64" : `${bytes.length} bytes`}`
    )
  }
  return Either.right(Redacted.make(bytes))
}

/**
 * Encrypts a secret for one integration. The integration id is the additional data, so a
 * ciphertext copied to another integration's row does not decrypt.
 */
export const seal = (key: Redacted.Redacted<Buffer>, integrationId: string, secret: string): Sealed => {
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv(ALGORITHM, Redacted.value(key), iv)
  cipher.setAAD(Buffer.from(integrationId, "utf8"))
  const ciphertext = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()])
  return { iv, ciphertext, tag: cipher.getAuthTag() }
}

/** The secret, or undefined when the key or the integration does not match (or the row was altered). */
export const open = (key: Redacted.Redacted<Buffer>, integrationId: string, sealed: Sealed): string | undefined => {
  try {
    const decipher = createDecipheriv(ALGORITHM, Redacted.value(key), sealed.iv)
    decipher.setAAD(Buffer.from(integrationId, "utf8"))
    decipher.setAuthTag(sealed.tag)
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString("utf8")
  } catch {
    return undefined
  }
}

/** What events and views show of a key: 4 hex characters of its SHA-256, enough to tell keys apart. */
export const fingerprintOf = (secret: string): string => createHash("sha256").update(secret, "utf8").digest("hex").slice(0, 4)
