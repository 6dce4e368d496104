/**
 * HTTP/1.1 chunk framing (RFC 9112 §7.1) removed from a body read by read, in place: each
 * chunk's payload goes to `sink` as a range of the buffer it arrived in, never copied. Shared by
 * the load generators' raw-socket clients (sse-wire.ts, timed-get.ts).
 */

/** Receives `buf[start, end)`, a piece of a chunk's payload. */
export type ChunkSink = (buf: Buffer, start: number, end: number) => void

const hexDigit = (c: number) => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  return -1
}

export class ChunkedBody {
  /** Payload bytes left in the current chunk; -1 while reading a size line. */
  private remaining = -1
  private size = 0
  private inExtension = false
  /** A CR LF still to check: after a chunk's payload, or the one that ends the body. */
  private crlf = 0
  private last = false
  /** The last chunk and the CR LF after it were read: the body is complete. */
  ended = false
  constructor(private readonly sink: ChunkSink) {}

  /**
   * Consumes `buf[from, to)` up to the body's end; returns where it stopped (`to`, or the first
   * byte after the body, where a keep-alive connection's next response starts). Throws on bytes
   * that are not valid framing. No trailer fields are expected after the last chunk.
   */
  push(buf: Buffer, from: number, to = buf.length): number {
    let i = from
    while (i < to && !this.ended) {
      if (this.crlf > 0) {
        if (buf[i] !== (this.crlf === 2 ? 0x0d : 0x0a)) throw new Error("chunked body: no CR LF after a chunk")
        this.crlf--
        i++
        if (this.crlf === 0 && this.last) this.ended = true
      } else if (this.remaining > 0) {
        const take = Math.min(this.remaining, to - i)
        this.sink(buf, i, i + take)
        this.remaining -= take
        i += take
        if (this.remaining === 0) {
          this.crlf = 2
          this.remaining = -1
        }
      } else {
        const c = buf[i++]!
        if (c === 0x0a) {
          // The end of a size line: a zero size is the last chunk, then one CR LF ends the body.
          if (this.size === 0) {
            this.last = true
            this.crlf = 2
          } else {
            this.remaining = this.size
          }
          this.size = 0
          this.inExtension = false
        } else if (c === 0x0d || this.inExtension) {
          // the CR of the size line, or a chunk extension (ignored)
        } else if (c === 0x3b) {
          this.inExtension = true
        } else {
          const d = hexDigit(c)
          if (d < 0) throw new Error(`chunked body: bad size byte ${c}`)
          this.size = this.size * 16 + d
        }
      }
    }
    return i
  }
}
