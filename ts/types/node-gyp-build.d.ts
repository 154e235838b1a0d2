// node-gyp-build ships no types; the one function mdmt uses (ts/native/binding.ts).
declare module 'node-gyp-build' {
  /** Loads the native addon of the package at `dir`. */
  function load(dir: string): unknown;
  namespace load {
    /** The addon node-gyp-build would load from `dir`: build/Release, build/Debug, then prebuilds/<platform>-<arch>/ by tags; throws when none matches. */
    function path(dir: string): string;
  }
  export = load;
}
