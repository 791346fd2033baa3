// JSR mode: the module imported over http from a loopback server that
// serves a staged `deno publish` tree (dist/jsr), as jsr.io serves a
// release. The library cannot be dlopen'ed from a URL, so the module fetches
// it into $XDG_CACHE_HOME/perfmmap/<version>/<target>/, checks its SHA-256
// against the release's table, and loads the copy. Deno is the child under
// both test runners (Bun does not import URLs); the server runs in this
// process and logs every request, which is how the tests see what was
// downloaded. Staging builds all four targets first (build.ts --all).

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import process from "node:process";
import {
  hostFolder,
  lastJson,
  manifest,
  once,
  otherArchLibrary,
  type Override,
  removeDir,
  ROOT,
  runAsync,
  serveFolders,
  sha256File,
  SLOW,
  stageRelease,
  type StaticServer,
  tempDir,
  tool,
} from "./_helpers.ts";

const LOAD_SCRIPT = (moduleUrl: string) => `
import { Counter, PerfError, probe } from "${moduleUrl}";
try {
  using clock = Counter.open("task-clock");
  console.log(JSON.stringify({ ok: true, value: clock.read(), library: probe([]).library }));
} catch (e) {
  if (!(e instanceof PerfError)) throw e;
  console.log(JSON.stringify({ ok: false, code: e.code, message: e.message, hint: e.hint }));
}
`;

describe("the module over http (JSR mode), served from 127.0.0.1", () => {
  let work: string | undefined;
  let server: StaticServer | undefined;
  const version = String(manifest("deno.json").version);
  const folder = hostFolder();
  const libraryRequest = `/release/native/${folder}/libperfmmap.so`;
  const cacheDir = (name: string) => `${staged()}/cache-${name}`;
  const cachedLibrary = (name: string) =>
    `${cacheDir(name)}/perfmmap/${version}/${folder}/libperfmmap.so`;

  /**
   * Deno's flags for the remote path; `net: false` leaves out --allow-net,
   * `all: true` gives every permission (Deno asks for --allow-all to write
   * below /sys).
   */
  function flags(
    cache: string,
    options: { net?: boolean; read?: string[]; all?: boolean } = {},
  ): string[] {
    if (options.all === true) return ["--no-prompt", "--allow-all"];
    const host = server!.host;
    const read = [cache, "/lib", ...(options.read ?? [])].join(",");
    return [
      "--no-prompt",
      `--allow-import=${host}`,
      ...(options.net === false ? [] : [`--allow-net=${host}`]),
      "--allow-ffi",
      "--allow-env=XDG_CACHE_HOME,HOME,PERFMMAP_LIB",
      `--allow-read=${read}`,
      `--allow-write=${cache}`,
    ];
  }

  function env(cache: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: `${staged()}/home`,
      XDG_CACHE_HOME: cache,
      DENO_DIR: `${staged()}/deno-dir`,
      NO_COLOR: "1",
      ...extra,
    };
  }

  /** Runs a load script under Deno; returns its outcome and the requests it made. */
  async function load(
    script: "release" | "checkout",
    cache: string,
    options: { net?: boolean; read?: string[]; env?: Record<string, string>; all?: boolean } = {},
  ): Promise<{ outcome: Record<string, unknown>; requests: string[] }> {
    await ready();
    const mark = server!.log.length;
    const ran = await runAsync(
      tool("deno"),
      ["run", ...flags(cache, options), `${staged()}/load_${script}.ts`],
      { cwd: staged(), env: env(cache, options.env), clearEnv: true },
    );
    return { outcome: lastJson(ran), requests: server!.log.slice(mark) };
  }

  const nativeRequests = (requests: string[]) => requests.filter((r) => r.includes("/native/"));

  function leftovers(cache: string): string[] {
    const dir = `${cache}/perfmmap/${version}/${folder}`;
    return existsSync(dir) ? readdirSync(dir).filter((name) => name.endsWith(".tmp")) : [];
  }

  // Staged on first use (see SLOW); the server starts on first use, too.
  const staged = once(() => {
    work = tempDir("remote");
    stageRelease(`${work}/dist`);
    return work;
  });
  let starting: Promise<StaticServer> | undefined;
  async function ready(): Promise<void> {
    const dir = staged();
    starting ??= serveFolders({ "/release/": `${dir}/dist/jsr/`, "/checkout/": ROOT });
    server = await starting;
    writeFileSync(`${dir}/load_release.ts`, LOAD_SCRIPT(`${server.origin}/release/mod.ts`));
    writeFileSync(`${dir}/load_checkout.ts`, LOAD_SCRIPT(`${server.origin}/checkout/mod.ts`));
  }

  after(async () => {
    await server?.close();
    removeDir(work);
  });

  it(
    "first run: downloads the library, verifies it, caches it per version and target",
    SLOW,
    async () => {
      const { outcome, requests } = await load("release", cacheDir("a"));
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      assert.equal(outcome.library, cachedLibrary("a"));
      assert.deepEqual(
        nativeRequests(requests).filter((r) => r.endsWith(".so")),
        [libraryRequest],
        requests.join("\n"),
      );
      assert.equal(
        sha256File(cachedLibrary("a")),
        sha256File(`${staged()}/dist/jsr/native/${folder}/libperfmmap.so`),
      );
      const launcher = cachedLibrary("a").replace(/libperfmmap\.so$/, "perfmmap-launch");
      assert.ok((statSync(launcher).mode & 0o111) !== 0, "the launcher is cached, executable");
      assert.deepEqual(leftovers(cacheDir("a")), []);
    },
  );

  it("second run: uses the cache, downloads nothing", SLOW, async () => {
    const { outcome, requests } = await load("release", cacheDir("a"));
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.equal(outcome.library, cachedLibrary("a"));
    assert.deepEqual(nativeRequests(requests), [], requests.join("\n"));
  });

  it(
    "a tampered download is refused with LIBRARY_CHECKSUM_MISMATCH, and nothing is cached",
    SLOW,
    async () => {
      await ready();
      const good = readFileSync(`${staged()}/dist/jsr/native/${folder}/libperfmmap.so`);
      const bad = new Uint8Array(good);
      bad[bad.length - 1] ^= 0xff;
      server!.overrides.set(libraryRequest, bad);
      try {
        const { outcome, requests } = await load("release", cacheDir("b"));
        assert.equal(outcome.code, "LIBRARY_CHECKSUM_MISMATCH", JSON.stringify(outcome));
        assert.match(
          String(outcome.message),
          new RegExp(
            `refusing to load ${server!.origin}${libraryRequest}: its SHA-256 is [0-9a-f]{64}, ` +
              `but perfmmap ${version.replaceAll(".", "\\.")} recorded [0-9a-f]{64}`,
          ),
        );
        assert.match(String(outcome.hint), /PERFMMAP_LIB/);
        assert.match(String(outcome.hint), /retry/);
        assert.doesNotMatch(String(outcome.hint), /--allow-/, "the flags were given");
        assert.ok(requests.includes(libraryRequest));
        assert.ok(!existsSync(cachedLibrary("b")), "nothing cached");
        assert.deepEqual(leftovers(cacheDir("b")), []);
      } finally {
        server!.overrides.delete(libraryRequest);
      }
    },
  );

  it("a cached copy changed on disk is not loaded: it is fetched anew", SLOW, async () => {
    writeFileSync(cachedLibrary("a"), "not a library");
    const { outcome, requests } = await load("release", cacheDir("a"));
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.ok(requests.includes(libraryRequest), requests.join("\n"));
    assert.equal(
      sha256File(cachedLibrary("a")),
      sha256File(`${staged()}/dist/jsr/native/${folder}/libperfmmap.so`),
    );
  });

  it("PERFMMAP_LIB wins: nothing is downloaded or cached", SLOW, async () => {
    const override = `${ROOT}native/${folder}/libperfmmap.so`;
    const { outcome, requests } = await load("release", cacheDir("c"), {
      env: { PERFMMAP_LIB: override },
      read: [override],
    });
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.equal(outcome.library, override);
    assert.deepEqual(nativeRequests(requests), []);
    assert.ok(!existsSync(`${cacheDir("c")}/perfmmap`));
  });

  it(
    "PERFMMAP_LIB wins even when wrong: the other CPU's build is LIBRARY_WRONG_ARCH",
    SLOW,
    async () => {
      const other = otherArchLibrary();
      const { outcome, requests } = await load("release", cacheDir("c"), {
        env: { PERFMMAP_LIB: other.path },
        read: [other.path],
      });
      assert.equal(outcome.code, "LIBRARY_WRONG_ARCH", JSON.stringify(outcome));
      assert.match(
        String(outcome.message),
        new RegExp(`built for ${other.built}, but this is ${other.host}`),
      );
      assert.deepEqual(nativeRequests(requests), []);
    },
  );

  it(
    "an unstaged tree (no checksums) is LIBRARY_UNVERIFIED, and nothing is downloaded",
    SLOW,
    async () => {
      const { outcome, requests } = await load("checkout", cacheDir("d"));
      assert.equal(outcome.code, "LIBRARY_UNVERIFIED", JSON.stringify(outcome));
      assert.match(String(outcome.message), /no SHA-256 is recorded for native\/linux-/);
      assert.match(String(outcome.message), /not staged for release/);
      assert.deepEqual(nativeRequests(requests), []);
    },
  );

  it("without --allow-net Deno gets LIBRARY_DOWNLOAD_FAILED naming the flags", SLOW, async () => {
    const { outcome } = await load("release", cacheDir("e"), { net: false });
    assert.equal(outcome.code, "LIBRARY_DOWNLOAD_FAILED", JSON.stringify(outcome));
    assert.match(String(outcome.message), new RegExp(`--allow-net=${server!.host}`));
    assert.match(String(outcome.hint), /--allow-env=XDG_CACHE_HOME,HOME/);
  });

  it(
    "a missing file on the server is LIBRARY_DOWNLOAD_FAILED with the HTTP status",
    SLOW,
    async () => {
      await ready();
      server!.overrides.set(libraryRequest, null);
      try {
        const { outcome } = await load("release", cacheDir("f"));
        assert.equal(outcome.code, "LIBRARY_DOWNLOAD_FAILED", JSON.stringify(outcome));
        assert.match(String(outcome.message), /HTTP 404/);
        assert.match(String(outcome.hint), /HTTP 404.*retry, or check the network/);
        assertNoFlagHint(outcome);
      } finally {
        server!.overrides.delete(libraryRequest);
      }
    },
  );

  /** Serves `override` for the library while `body` runs. */
  async function withOverride<T>(override: Override, body: () => Promise<T>): Promise<T> {
    await ready();
    server!.overrides.set(libraryRequest, override);
    try {
      return await body();
    } finally {
      server!.overrides.delete(libraryRequest);
    }
  }

  /** The hint of a failure that is not a missing permission: no Deno flags in it. */
  function assertNoFlagHint(outcome: Record<string, unknown>): void {
    assert.doesNotMatch(String(outcome.hint), /--allow-/, `the flags were given: ${outcome.hint}`);
    assert.doesNotMatch(String(outcome.hint), /run Deno with/);
  }

  it(
    "HTTP 500: LIBRARY_DOWNLOAD_FAILED with the status, and a hint to retry or check the network",
    SLOW,
    async () => {
      const { outcome } = await withOverride(
        { status: 500 },
        () => load("release", cacheDir("g")),
      );
      assert.equal(outcome.code, "LIBRARY_DOWNLOAD_FAILED", JSON.stringify(outcome));
      assert.match(String(outcome.message), /HTTP 500 Internal Server Error/);
      assert.match(String(outcome.hint), /HTTP 500/);
      assert.match(String(outcome.hint), /retry, or check the network/);
      assertNoFlagHint(outcome);
      assert.ok(!existsSync(cachedLibrary("g")), "nothing cached");
    },
  );

  it(
    "a body cut short: LIBRARY_DOWNLOAD_FAILED that says so, and nothing is cached",
    SLOW,
    async () => {
      const good = readFileSync(`${staged()}/dist/jsr/native/${folder}/libperfmmap.so`);
      const { outcome } = await withOverride(
        { body: new Uint8Array(good), truncate: good.length >> 1 },
        () => load("release", cacheDir("h")),
      );
      assert.equal(outcome.code, "LIBRARY_DOWNLOAD_FAILED", JSON.stringify(outcome));
      assert.match(String(outcome.message), /was cut short/);
      assert.match(String(outcome.hint), /broke off/);
      assert.match(String(outcome.hint), /retry/);
      assertNoFlagHint(outcome);
      assert.ok(!existsSync(cachedLibrary("h")), "nothing cached");
      assert.deepEqual(leftovers(cacheDir("h")), []);
    },
  );

  it(
    "a cache home that is a file: LIBRARY_CACHE_FAILED naming it, remove it or set XDG_CACHE_HOME",
    SLOW,
    async () => {
      await ready();
      const blocker = cacheDir("i");
      writeFileSync(blocker, "a file, not a folder");
      const { outcome } = await load("release", blocker);
      assert.equal(outcome.code, "LIBRARY_CACHE_FAILED", JSON.stringify(outcome));
      assert.match(String(outcome.message), /cannot (read|write) .*: Not a directory/);
      assert.equal(
        outcome.hint,
        `remove the file ${blocker} (the cache needs a folder there), or set XDG_CACHE_HOME ` +
          `to a writable folder, or set PERFMMAP_LIB to a local libperfmmap.so`,
      );
    },
  );

  it(
    "a cache home that cannot be written: LIBRARY_CACHE_FAILED, set XDG_CACHE_HOME elsewhere",
    SLOW,
    async () => {
      // Nobody, root included, makes folders in sysfs (EPERM).
      const { outcome } = await load("release", "/sys", { all: true });
      assert.equal(outcome.code, "LIBRARY_CACHE_FAILED", JSON.stringify(outcome));
      assert.match(String(outcome.message), /cannot write \/sys\/perfmmap\//);
      assert.match(
        String(outcome.hint),
        /^the cache folder \/sys\/perfmmap cannot be written here \(E[A-Z]+\): make it writable, or set XDG_CACHE_HOME to a writable folder/,
      );
      assertNoFlagHint(outcome);
    },
  );

  it("the CLI from the URL counts a command with the cached launcher", SLOW, async () => {
    await ready();
    const mark = server!.log.length;
    const ran = await runAsync(
      tool("deno"),
      ["run", "-A", `${server!.origin}/release/cli.ts`, "stat", "-e", "task-clock", "--", "true"],
      { cwd: staged(), env: env(cacheDir("a")), clearEnv: true },
    );
    assert.equal(ran.status, 0, `${ran.stdout}\n${ran.stderr}`);
    assert.match(ran.stderr, /task-clock/);
    assert.deepEqual(nativeRequests(server!.log.slice(mark)), []);
  });
});
