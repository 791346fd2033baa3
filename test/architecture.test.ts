/**
 * The shape of the tree, as a test: `src/` has no import circle (type-only
 * imports count too: a circle of types is still two files that cannot be
 * read apart), `src/ffi/` (the symbol table and the runtime adapters) is a
 * leaf that imports nothing outside itself (errors cross it as numbers or
 * data), and the command line reaches the library only through mod.ts and
 * src/internal.ts. A new import that breaks one is caught here, not in a
 * later refactor.
 *
 * @module
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const SRC = join(ROOT, "src");

/** Every .ts file under `dir`, as absolute paths. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(path));
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) out.push(path);
  }
  return out.sort();
}

/**
 * The relative modules a file imports or re-exports (static `import`,
 * `import type`, `export ... from`, and `import("...")` in types), as
 * absolute paths. Comments are dropped first so that an example in a doc
 * comment is not an import.
 */
export function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, "")
    .replace(/(^|[^:])\/\/.*$/gm, "$1");
  const specifiers = [
    ...text.matchAll(/\b(?:import|export)\b[^;'"]*?\bfrom\s*["']([^"']+)["']/g),
    ...text.matchAll(/\bimport\s*["']([^"']+)["']/g),
    ...text.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g),
  ].map((match) => match[1]);
  return [...new Set(specifiers)]
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => resolve(dirname(file), specifier));
}

/** The strongly connected components with more than one file (Tarjan). */
export function circles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, next);
    low.set(node, next);
    next++;
    stack.push(node);
    onStack.add(node);
    for (const to of graph.get(node) ?? []) {
      if (!graph.has(to)) continue;
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(node, Math.min(low.get(node)!, index.get(to)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) found.push(component);
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

const rel = (path: string) => relative(ROOT, path);

describe("the shape of src/", () => {
  const files = tsFiles(SRC);
  const graph = new Map(files.map((file) => [file, importsOf(file)]));

  it("the import scan sees the imports (it is not vacuous)", () => {
    const edges = [...graph.values()].reduce((sum, list) => sum + list.length, 0);
    assert.ok(files.length >= 30, `only ${files.length} files under src/`);
    assert.ok(edges >= 100, `only ${edges} imports found`);
    const found = circles(new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", ["a"]]]));
    assert.deepEqual(found.map((c) => c.sort()), [["a", "b", "c"]]);
    for (const list of graph.values()) {
      for (const to of list) assert.ok(existsSync(to), `an import resolves to no file: ${rel(to)}`);
    }
  });

  it("has no import circle", () => {
    const found = circles(graph).map((component) => component.map(rel).sort().join(" <-> "));
    assert.deepEqual(found, [], `import circles:\n${found.join("\n")}`);
  });
});

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

function folderFiles(folder: string): string[] {
  return readdirSync(folder).filter((name) => name.endsWith(".ts")).map((name) =>
    join(folder, name)
  );
}

describe("the layers: src/ffi/ is a leaf, the CLI uses the public API", () => {
  it("src/ffi/ imports nothing outside itself", () => {
    const files = folderFiles(join(SRC, "ffi"));
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
    for (const file of folderFiles(join(SRC, "cli"))) {
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

describe("no back doors between modules", () => {
  it("no class fills a module variable from a static block to reach its private fields", () => {
    const found: string[] = [];
    for (const file of tsFiles(SRC)) {
      const text = readFileSync(file, "utf8");
      if (/^\s*static\s*\{/m.test(text)) found.push(`${rel(file)}: a static {} block`);
      for (const match of text.matchAll(/^let (\w+): \(/gm)) {
        found.push(`${rel(file)}: module-level function variable ${match[1]}`);
      }
    }
    assert.deepEqual(found, [], "subclass, or pass what is needed through src/_open.ts");
  });
});
