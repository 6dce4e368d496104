/**
 * Seeded pseudo-random numbers for the simulator.
 *
 * Everything the simulator invents (ids, names, timestamps, fault decisions) comes from
 * an `Rng` seeded from user-visible numbers, so two runs with the same seeds produce the
 * same data and the same fault sequence. The generator is mulberry32: 32 bits of state,
 * fast, and good enough for test data (it is not cryptographic).
 */

/** Hex digits of every byte value, for fast UUID and token rendering. */
const HEX_BYTE: ReadonlyArray<string> = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

const hex32 = (n: number): string =>
  HEX_BYTE[(n >>> 24) & 0xff]! + HEX_BYTE[(n >>> 16) & 0xff]! + HEX_BYTE[(n >>> 8) & 0xff]! + HEX_BYTE[n & 0xff]!

/**
 * Mixes any list of numbers and strings into one 32-bit seed (FNV-1a over the parts,
 * then a final avalanche), so derived streams such as `hashSeed(seed, "faults")` and
 * `hashSeed(seed, "data")` are independent of each other.
 */
export const hashSeed = (...parts: ReadonlyArray<string | number>): number => {
  let h = 0x811c9dc5
  for (const part of parts) {
    const text = typeof part === "number" ? `#${part}` : `$${part}`
    for (let i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i)
      h = Math.imul(h, 0x01000193)
    }
    h ^= 0x2f // separator, so ("ab","c") and ("a","bc") differ
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** A deterministic random stream (mulberry32). */
export class Rng {
  private state: number

  constructor(seed: number) {
    this.state = seed >>> 0
  }

  /** Derives a generator from any parts (see `hashSeed`). */
  static from(...parts: ReadonlyArray<string | number>): Rng {
    return new Rng(hashSeed(...parts))
  }

  /** Next unsigned 32-bit integer. */
  uint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** Uniform float in [0, 1). */
  next(): number {
    return this.uint32() / 4294967296
  }

  /** Uniform integer in [0, maxExclusive). */
  int(maxExclusive: number): number {
    return Math.floor(this.next() * maxExclusive)
  }

  /** Uniform integer in [min, max] (both inclusive). */
  between(min: number, max: number): number {
    return min + this.int(max - min + 1)
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p
  }

  /** One element of a non-empty array. */
  pick<A>(items: ReadonlyArray<A>): A {
    return items[this.int(items.length)]!
  }

  /** `k` distinct elements of `items` (fewer when `items` is shorter), in random order. */
  sample<A>(items: ReadonlyArray<A>, k: number): Array<A> {
    const pool = items.slice()
    const out: Array<A> = []
    for (let i = 0; i < k && pool.length > 0; i++) {
      out.push(pool.splice(this.int(pool.length), 1)[0]!)
    }
    return out
  }

  /** `n` lowercase hex characters. */
  hex(n: number): string {
    let out = ""
    while (out.length < n) out += hex32(this.uint32())
    return out.slice(0, n)
  }

  /** A random (version 4, RFC 4122 variant) UUID in lowercase canonical form. */
  uuid(): string {
    const a = this.uint32()
    const b = (this.uint32() & 0xffff0fff) | 0x00004000 // version nibble = 4
    const c = (this.uint32() & 0x3fffffff) | 0x80000000 // variant bits = 10
    const d = this.uint32()
    const h = hex32(a) + hex32(b) + hex32(c) + hex32(d)
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  }
}

/** The default API key for a seed: `plane_api_` + 32 hex characters, as Plane's tokens look. */
export const defaultApiKey = (seed: number): string => `plane_api_${Rng.from(seed, "api-key").hex(32)}`
