// Minimal .npy reader for the demo and benchmark pages: little-endian f4/f8, C order.
export function parseNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.slice(1, 6));
  if (bytes[0] !== 0x93 || magic !== 'NUMPY') throw new Error('not a .npy file');
  const major = bytes[6];
  const view = new DataView(buffer);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.slice(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = (/'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? '').split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (/True/.test(/'fortran_order':\s*(\w+)/.exec(header)?.[1] ?? '')) throw new Error('Fortran order is not supported');
  const offset = start + headerLen;
  const data = buffer.slice(offset);
  if (descr === '<f8') return { shape, data: new Float64Array(data) };
  if (descr === '<f4') return { shape, data: new Float32Array(data) };
  throw new Error(`unsupported dtype ${descr}`);
}
