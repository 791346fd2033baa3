// The release table. scripts/release.ts rewrites this file in the staged
// tree (dist/jsr, dist/npm) with the version and the SHA-256 of every native
// file it ships. This copy is the checkout's placeholder: no version and no
// checksums. That is fine for a library loaded from a local path, which is
// never checked; a module served over http(s) from an unstaged tree refuses
// to download a library it cannot verify (LIBRARY_UNVERIFIED).

/** The package version the checksums belong to; `""` in a checkout that was never staged. */
export const RELEASE_VERSION: string = "";

/** SHA-256 (lowercase hex) of each shipped native file, by its path below the package root. */
export const NATIVE_SHA256: Readonly<Record<string, string>> = {};
