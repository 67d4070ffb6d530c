// webpack 5 needs nothing for edgerec: ESM, top-level await (on by default since 5.83) and
// `new URL('…/edgerec_bg.wasm', import.meta.url)` (asset modules) work out of the box.
// The one line below only quiets webpack's generic size hint (244 KiB by default) for the
// 1.2 MiB (≈ 0.5 MB gzipped) wasm, which every page using edgerec loads once.
export default {
  mode: 'production',
  entry: './main.js',
  performance: { assetFilter: (file) => !file.endsWith('.wasm') },
};
