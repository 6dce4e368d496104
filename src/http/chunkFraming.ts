/**
 * HTTP/1.1 chunked framing of a response body written straight to its socket (the live streams
 * bypass `res.write`). Node's own modules only: the SSE writer process's bundle imports this too.
 */

/** One chunk: its size in hex, CRLF, the bytes, CRLF. An HTTP/1.0 body goes out as is. */
export const frameBody = (text: string, chunked: boolean): Buffer =>
  Buffer.from(chunked ? `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n` : text)

/** The zero-size chunk and the empty trailer that end a chunked body. */
export const LAST_CHUNK = "0\r\n\r\n"
