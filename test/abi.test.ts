// The C ABI as both sides declare it, compared by parsing the core's
// sources: every `export fn pm_*` of zig/src/exports.zig against the symbol
// table of src/ffi/symbols.ts (names, parameter types, result types), the
// core's own error codes, every output layout the exports fill by slot, and
// the ABI version. Any drift between the two fails here, in every runtime.
//
// Parsing, not a layout table the core exports at load: the signatures can
// only be compared from the sources anyway, so one mechanism covers all of
// it, with no symbol added to the ABI and nothing checked on every load.
// The cost: where only the built library ships (the arm64 guest), this file
// skips, and the load-time ABI version check is what guards that library.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ERRNO } from "../src/_errno.ts";
import * as table from "../src/ffi/symbols.ts";
import type { SymbolDefinition, SymbolType } from "../src/ffi/symbols.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const ZIG = join(ROOT, "zig", "src");

const noZig = !existsSync(join(ZIG, "exports.zig")) &&
  "no zig/ sources here (the arm64 guest ships the built library only)";
if (noZig) console.log(`SKIP reason: ${noZig}`);

function zigSource(file: string): string {
  return readFileSync(join(ZIG, file), "utf8");
}

/** `time_enabled` -> `TIME_ENABLED`, `PageInfo` -> `PAGE_INFO`. */
function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase();
}

/**
 * The table's type for a Zig parameter or result type: the integer and
 * float types by name, any pointer (`*T`, `[*]T`, `*[N]T`) as a buffer.
 * Anything else is a type this mapping does not know yet: the test fails.
 */
function ffiType(zigType: string, where: string): SymbolType {
  const type = zigType.trim();
  if (type === "i32" || type === "u32" || type === "f64") return type;
  if (type.startsWith("*") || type.startsWith("[*]")) return "buffer";
  throw new assert.AssertionError({
    message: `${where}: no FFI type for the Zig type \`${type}\``,
  });
}

type Signature = { parameters: SymbolType[]; result: SymbolType };

/** Every `pub export fn pm_*` of exports.zig, as the table would declare it. */
function zigExports(source: string): Map<string, Signature> {
  const exports = new Map<string, Signature>();
  for (
    const [, name, parameters, result] of source.matchAll(
      /pub export fn (pm_\w+)\(([^)]*)\)\s*([^\s{]+)\s*\{/g,
    )
  ) {
    const types = parameters.trim() === "" ? [] : parameters.split(",").map((parameter) => {
      const [, type] = parameter.split(":");
      return ffiType(type ?? "", `${name}(${parameter.trim()})`);
    });
    assert.ok(!exports.has(name), `${name} is exported twice`);
    exports.set(name, { parameters: types, result: ffiType(result, `${name}'s result`) });
  }
  return exports;
}

/** The integer constants of `pub const <block> = struct { ... };`. */
function zigLayout(source: string, block: string, file: string): Map<string, number> {
  const body = source.match(new RegExp(`pub const ${block} = struct \\{([^}]*)\\};`));
  assert.ok(body, `${file} has no \`pub const ${block} = struct\``);
  const slots = new Map<string, number>();
  for (const line of body[1].split("\n")) {
    if (line.trim() === "" || line.trim().startsWith("//")) continue;
    const constant = line.match(/^\s*pub const (\w+) = (\d+);$/);
    assert.ok(
      constant,
      `${file}, ${block}: \`${line.trim()}\` is not \`pub const name = <integer>;\``,
    );
    slots.set(constant[1], Number(constant[2]));
  }
  return slots;
}

/** The TS layout object as a Map, its names as the Zig block spells them. */
function tsLayout(object: Readonly<Record<string, number>>): Map<string, number> {
  return new Map(Object.entries(object).map(([name, slot]) => [name.toLowerCase(), slot]));
}

function sorted<T>(map: Map<string, T>): [string, T][] {
  return [...map].sort(([a], [b]) => a.localeCompare(b));
}

/** The symbol table without its Deno-only flag (`nonblocking`). */
function tableSignatures(): Map<string, Signature> {
  const symbols: Record<string, SymbolDefinition> = table.SYMBOLS;
  return new Map(
    Object.entries(symbols).map((
      [name, { parameters, result }],
    ) => [name, { parameters: [...parameters], result }]),
  );
}

/** Each test skips, with the reason printed above, where zig/ is absent. */
const whereZig = { skip: noZig };

describe("the ABI: zig/src against src/ffi/symbols.ts", () => {
  it(
    "every `export fn pm_*` has the table's name, parameter types and result type",
    whereZig,
    () => {
      const zig = zigExports(zigSource("exports.zig"));
      const ts = tableSignatures();
      assert.ok(zig.size >= 40, `found ${zig.size} exports in exports.zig: the scan is broken`);
      const missing = [...zig.keys()].filter((name) => !ts.has(name));
      const extra = [...ts.keys()].filter((name) => !zig.has(name));
      assert.deepEqual({ missingFromTable: missing, notExported: extra }, {
        missingFromTable: [],
        notExported: [],
      });
      for (const [name, signature] of zig) {
        assert.deepEqual(ts.get(name), signature, `${name}: symbols.ts against exports.zig`);
      }
    },
  );

  it("no `export fn` outside exports.zig, and ABI.md documents every export", whereZig, () => {
    const files = readdirSync(ZIG, { recursive: true, encoding: "utf8" })
      .filter((file) =>
        file.endsWith(".zig") && file !== "exports.zig" && !file.startsWith("tests")
      );
    for (const file of files) {
      assert.doesNotMatch(zigSource(file), /\bexport fn\b/, `${file} exports a function`);
    }
    const abi = readFileSync(join(ROOT, "zig", "ABI.md"), "utf8");
    const documented = new Set<string>();
    for (const [row] of abi.matchAll(/^\| `pm_\w+`[^|]*\|/gm)) {
      for (const [, name] of row.matchAll(/`(pm_\w+)`/g)) documented.add(name);
    }
    const exported = [...zigExports(zigSource("exports.zig")).keys()];
    assert.deepEqual(
      exported.filter((name) => !documented.has(name)),
      [],
      "exports missing from ABI.md's table",
    );
    assert.deepEqual(
      [...documented].filter((name) => !exported.includes(name)),
      [],
      "ABI.md rows with no export",
    );
  });

  it("the ABI version is the same in exports.zig, symbols.ts and ABI.md", whereZig, () => {
    const zig = zigSource("exports.zig").match(/pub const abi_version = (\d+);/);
    assert.ok(zig, "exports.zig has no `pub const abi_version`");
    assert.equal(Number(zig[1]), table.ABI_VERSION, "exports.zig abi_version against ABI_VERSION");
    const abi = readFileSync(join(ROOT, "zig", "ABI.md"), "utf8").match(
      /\| `pm_abi_version` \|[^|]*\|[^|]*\| returns (\d+)/,
    );
    assert.ok(abi, "ABI.md has no `pm_abi_version` row saying what it returns");
    assert.equal(Number(abi[1]), table.ABI_VERSION, "ABI.md against ABI_VERSION");
    const header = readFileSync(join(ROOT, "src", "ffi", "symbols.ts"), "utf8").match(
      /`zig\/ABI\.md` \(version (\d+)\)/,
    );
    assert.ok(header, "symbols.ts no longer names the ABI.md version it mirrors");
    assert.equal(Number(header[1]), table.ABI_VERSION, "symbols.ts header against ABI_VERSION");
  });

  it("the core's own codes are the same in zig/src/errno.zig and CORE_CODES", whereZig, () => {
    const block = zigSource("errno.zig").match(/pub const Code = enum\(u32\) \{([^}]*)\}/);
    assert.ok(block, "zig/src/errno.zig has no `pub const Code = enum(u32)`");
    const zigCodes = new Map(
      [...block[1].matchAll(/([A-Z_]+) = (\d+),/g)].map(([, name, n]) => [Number(n), name]),
    );
    const tsCodes = new Map(Object.entries(table.CORE_CODES).map(([n, name]) => [Number(n), name]));
    assert.ok(zigCodes.size >= 10, "the scan of errno.zig found almost nothing: it is broken");
    assert.deepEqual([...zigCodes].sort(), [...tsCodes].sort());
    for (const [number] of ERRNO) assert.ok(number < 4096, "errnos stay below the core's codes");
  });

  it(
    "every output layout has the same names, slots and size in Zig and TypeScript",
    whereZig,
    () => {
      const exportsZig = zigSource("exports.zig");
      const layouts: [string, Readonly<Record<string, number>>, number][] = [
        ["Detailed", table.DETAILED, table.DETAILED_BYTES],
        ["PageInfo", table.PAGE_INFO, table.PAGE_INFO_BYTES],
        ["Stats", table.STATS, table.STATS_BYTES],
        ["RingInfo", table.RING_INFO, table.RING_INFO_BYTES],
        ["Id", table.ID, table.ID_BYTES],
      ];
      for (const [block, ts, bytes] of layouts) {
        const zig = zigLayout(exportsZig, block, "exports.zig");
        const slots = zig.get("slots");
        assert.ok(slots !== undefined, `exports.zig ${block} has no \`slots\``);
        zig.delete("slots");
        assert.deepEqual(
          sorted(tsLayout(ts)),
          sorted(zig),
          `${upperSnake(block)} against ${block}`,
        );
        assert.equal(slots * 8, bytes, `${upperSnake(block)}_BYTES against ${block}.slots`);
        // The adapters give every fixed-size output one DETAILED_BYTES buffer.
        assert.ok(bytes <= table.DETAILED_BYTES, `${block} does not fit the adapters' out buffer`);
      }
      const group = zigLayout(zigSource("group_read.zig"), "GroupSlots", "group_read.zig");
      assert.deepEqual(
        sorted(tsLayout(table.GROUP_SLOTS)),
        sorted(group),
        "GROUP_SLOTS against GroupSlots",
      );
      const source = zigSource("self_read.zig").match(/pub const Source = enum\(u8\) \{([^}]*)\}/);
      assert.ok(source, "self_read.zig has no `pub const Source = enum(u8)`");
      const sources = new Map(
        [...source[1].matchAll(/(\w+) = (\d+)/g)].map(([, name, n]) => [name, Number(n)]),
      );
      assert.deepEqual(
        sorted(tsLayout(table.GROUP_SOURCE)),
        sorted(sources),
        "GROUP_SOURCE against Source",
      );
    },
  );

  it(
    "exports.zig fills every output by the layouts' names, never by a literal slot",
    whereZig,
    () => {
      const source = zigSource("exports.zig");
      const literal = [...source.matchAll(/^.*\b\w+\[\d+\]\s*=[^=].*$/gm)].map(([line]) =>
        line.trim()
      );
      assert.deepEqual(literal, [], "slots written by number");
      const positional = [...source.matchAll(/^.*\bout\.\* = \.\{.*$/gm)].map(([line]) =>
        line.trim()
      );
      assert.deepEqual(positional, [], "outputs written as one positional tuple");
    },
  );

  it("the input enums: SIM_FIELDS against sim.Field, SYSCTL against sysfs.Knob", whereZig, () => {
    const enumOf = (file: string, name: string): Map<string, number> => {
      const body = zigSource(file).match(
        new RegExp(`pub const ${name} = enum\\(u32\\) \\{([^}]*)\\}`),
      );
      assert.ok(body, `zig/src/${file} has no \`pub const ${name} = enum(u32)\``);
      return new Map(
        [...body[1].matchAll(/(\w+) = (\d+),/g)].map(([, key, n]) => [key, Number(n)]),
      );
    };
    // The TypeScript names of the simulated page's fields are camelCase,
    // and two say which struct field they set (the page's `version` and `size`).
    const renamed: Record<string, string> = { version: "pageVersion", size: "pageSizeField" };
    const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const sim = [...enumOf("sim.zig", "Field")].map(([key, n]) => [renamed[key] ?? camel(key), n]);
    assert.deepEqual(
      sim.sort(),
      Object.entries(table.SIM_FIELDS).sort(),
      "SIM_FIELDS against sim.Field",
    );
    const knobs = [...enumOf("sysfs.zig", "Knob")].map(([key, n]) => [upperSnake(key), n]);
    assert.deepEqual(
      knobs.sort(),
      Object.entries(table.SYSCTL).sort(),
      "SYSCTL against sysfs.Knob",
    );
  });
});
