/**
 * Where a `.wasm` file is read from. Its own module because the package's build minifies every
 * other file (scripts/build-pkg.sh), and minifiers drop the comments below that tell bundlers
 * to leave Node's `fs` import alone.
 */

/** `url`, or its bytes in Node (where `fetch()` cannot read `file:` URLs). */
export async function wasmFile(url: URL): Promise<URL | Uint8Array> {
  if (url.protocol === 'file:') {
    // The specifier is a variable so bundlers leave it alone.
    const fsModule = 'node:fs/promises';
    const fs = (await import(/* webpackIgnore: true */ /* @vite-ignore */ fsModule)) as { readFile(u: URL): Promise<Uint8Array> };
    return fs.readFile(url);
  }
  return url;
}
