// The module's layering, as its imports show it: src/ffi/ (the symbol table
// and the runtime adapters) is a leaf that imports nothing above it, and the
// command line reaches the library only through mod.ts and src/internal.ts.
// A new import that breaks either is caught here, not in a later refactor.

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const SRC = join(dirname(fileURLToPath(import.meta.url)), "..", "src");

/** Every module specifier a file imports or re-exports, static or dynamic with a literal. */
function specifiers(path: string): string[] {
  const text = readFileSync(path, "utf8");
  const found: string[] = [];
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s*"([^"]+)"/g)) {
    found.push(match[1]);
  }
  for (const match of text.matchAll(/(?:^|\n)\s*import\s*"([^"]+)"/g)) found.push(match[1]);
  for (const match of text.matchAll(/\bimport\(\s*"([^"]+)"\s*\)/g)) found.push(match[1]);
  return found;
}

function tsFiles(folder: string): string[] {
  return readdirSync(folder).filter((name) => name.endsWith(".ts")).map((name) =>
    join(folder, name)
  );
}

describe("layout", () => {
  it("src/ffi/ imports nothing outside itself", () => {
    const files = tsFiles(join(SRC, "ffi"));
    assert.ok(files.length >= 4, `the adapters and the symbol table: ${files}`);
    for (const file of files) {
      for (const specifier of specifiers(file)) {
        assert.ok(
          specifier.startsWith("./") && !specifier.slice(2).includes("/"),
          `${file} imports ${specifier}: src/ffi/ must stay a leaf (errors cross as numbers or data)`,
        );
      }
    }
  });

  it("src/cli/ uses only mod.ts, src/internal.ts, its own files and node: modules", () => {
    const allowed = new Set(["../../mod.ts", "../internal.ts"]);
    for (const file of tsFiles(join(SRC, "cli"))) {
      for (const specifier of specifiers(file)) {
        const own = specifier.startsWith("./") && !specifier.slice(2).includes("/");
        assert.ok(
          own || allowed.has(specifier) || specifier.startsWith("node:"),
          `${file} imports ${specifier}: the CLI takes the library from mod.ts or src/internal.ts`,
        );
      }
    }
  });

  it("finds the imports it checks (the patterns still match this code base)", () => {
    const stat = specifiers(join(SRC, "cli", "stat.ts"));
    assert.ok(stat.includes("../../mod.ts") && stat.includes("../internal.ts"), `${stat}`);
    assert.ok(specifiers(join(SRC, "ffi", "deno.ts")).includes("./symbols.ts"));
  });
});
