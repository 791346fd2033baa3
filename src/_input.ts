// Reading what a user passed, once and safely: own properties only (a
// polluted Object.prototype sets nothing), every getter or Proxy trap run
// exactly once, and anything thrown turned into a PerfError with its cause.
// Used by every entry point that takes an object or an array.

import { PerfError, quote } from "./errors.ts";

/** How a value is named in a message; never calls user code, never throws. */
export function describe(value: unknown): string {
  if (typeof value === "string") return quote(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  if (typeof value !== "object") return String(value);
  try {
    return Array.isArray(value) ? "an array" : "an object";
  } catch {
    return "a revoked Proxy"; // Array.isArray throws only for a revoked Proxy
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  try {
    return !Array.isArray(value);
  } catch {
    return true; // a revoked Proxy: ownRecord reports it
  }
}

/** What {@link ownRecord} reports on failure. */
export interface ReadContext {
  /** The operation, for PerfError.op. */
  op: string;
  /** The error code: INVALID_OPTION, INVALID_EVENT, INVALID_TARGET. */
  code?: string;
  /** The event, for PerfError.event. */
  event?: string;
}

/**
 * The own enumerable string-keyed properties of a plain object (what `{...x}`
 * copies), read once into an object with no prototype. Options are read
 * from this copy only: a property inherited from a polluted
 * `Object.prototype` is not an option, and a getter runs exactly once. A
 * throwing getter or Proxy trap (or a revoked Proxy) becomes a PerfError
 * with the thrown value as its cause.
 *
 * @param name How the value is named in messages, e.g. "options".
 * @returns The copy, or a PerfError thrown when `value` is not an object.
 */
export function ownRecord(
  context: ReadContext,
  name: string,
  value: unknown,
): Record<string, unknown> {
  const code = context.code ?? "INVALID_OPTION";
  const fail = (message: string, cause?: unknown) =>
    new PerfError(code, message, { op: context.op, event: context.event, cause });
  if (!isPlainObject(value)) throw fail(`${name} must be an object, got ${describe(value)}`);
  const record: Record<string, unknown> = Object.create(null);
  try {
    for (const key of Object.keys(value)) {
      const property = Object.getOwnPropertyDescriptor(value, key);
      if (property === undefined) continue; // a Proxy that lists keys it has not
      record[key] = "value" in property ? property.value : property.get?.call(value);
    }
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : describe(cause);
    throw fail(`${name} could not be read: ${why}`, cause);
  }
  return record;
}

/**
 * The elements of an array, each read as an own property (a hole, or an
 * index inherited from a polluted `Array.prototype`, is `undefined`), with
 * the length bounded; throwing traps become a PerfError.
 */
export function ownArray(
  context: ReadContext,
  name: string,
  value: readonly unknown[],
  lengthMax: number,
): unknown[] {
  const code = context.code ?? "INVALID_OPTION";
  try {
    const length = value.length;
    if (!Number.isSafeInteger(length) || length < 0 || length > lengthMax) {
      throw new PerfError(
        code,
        `${name} has ${describe(length)} elements; at most ${lengthMax} are accepted`,
        { op: context.op, event: context.event },
      );
    }
    const elements: unknown[] = [];
    for (let i = 0; i < length; i++) {
      const property = Object.getOwnPropertyDescriptor(value, i);
      elements.push(
        property === undefined
          ? undefined
          : "value" in property
          ? property.value
          : property.get?.call(value),
      );
    }
    return elements;
  } catch (cause) {
    if (cause instanceof PerfError) throw cause;
    const why = cause instanceof Error ? cause.message : describe(cause);
    throw new PerfError(code, `${name} could not be read: ${why}`, {
      op: context.op,
      event: context.event,
      cause,
    });
  }
}

/** Array.isArray that answers false for a revoked Proxy instead of throwing. */
export function isArray(value: unknown): value is readonly unknown[] {
  try {
    return Array.isArray(value);
  } catch {
    return false; // a revoked Proxy
  }
}

/** What {@link integerArgument} accepts, and how it names the argument. */
export interface IntegerBounds {
  /** The argument's name in messages, e.g. "period". */
  name: string;
  min: number;
  max: number;
}

/**
 * A method's integer argument: a number that is an integer in
 * [`min`, `max`] (-0 becomes 0). Anything but a number is `INVALID_ARGUMENT`;
 * a number that is not such an integer (NaN, 1.5, out of range) is
 * `VALUE_OUT_OF_RANGE`. Never calls user code: a Proxy or an object with a
 * `valueOf` is refused as not a number.
 */
export function integerArgument(
  context: ReadContext,
  value: unknown,
  bounds: IntegerBounds,
): number {
  const range = `an integer from ${bounds.min} to ${bounds.max}`;
  if (typeof value !== "number") {
    throw new PerfError(
      "INVALID_ARGUMENT",
      `${bounds.name} must be ${range}, got ${describe(value)}`,
      { op: context.op, event: context.event },
    );
  }
  if (!Number.isInteger(value) || value < bounds.min || value > bounds.max) {
    throw new PerfError(
      "VALUE_OUT_OF_RANGE",
      `${bounds.name} must be ${range}, got ${describe(value)}`,
      { op: context.op, event: context.event },
    );
  }
  return value + 0;
}
