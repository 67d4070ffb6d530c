// Model versions for the sync tests, derived from the shipped MovieLens bundle the way a
// publisher would make them: a new version whose item embeddings changed (rows reversed, so
// vector recall returns other films), signed with a key; a version signed with the wrong key;
// a version whose file was corrupted after signing. Hashes and signatures follow models/README.md.
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SOURCE = fileURLToPath(new URL('../../../models/movielens-small/', import.meta.url));

/** PKCS#8 DER prefix of an Ed25519 private key (RFC 8410); the 32-byte seed follows. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

export function keyPair(seedHex) {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, Buffer.from(seedHex, 'hex')]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKey, publicHex: spki.subarray(spki.length - 32).toString('hex') };
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/**
 * Writes `models/<version>/` from the shipped bundle. Options: `reverse` (reverse the rows of the
 * item embeddings and their scales), `seedHex` (sign with this Ed25519 seed), `corrupt` (flip a
 * byte of tensors.bin after hashing and signing).
 */
export function writeVariant(modelsDir, version, { reverse = false, seedHex, corrupt = false } = {}) {
  const dir = join(modelsDir, version);
  mkdirSync(dir, { recursive: true });
  const envelope = JSON.parse(readFileSync(join(SOURCE, 'manifest.json'), 'utf8'));
  const manifest = envelope.manifest;
  const tensors = Buffer.from(readFileSync(join(SOURCE, 'tensors.bin')));
  if (reverse) {
    for (const name of ['item_embeddings', 'item_embeddings.scales']) {
      const t = manifest.tensors.find((x) => x.name === name);
      const rows = t.shape[0];
      const rowBytes = t.bytes / rows;
      const copy = Buffer.from(tensors.subarray(t.offset, t.offset + t.bytes));
      for (let r = 0; r < rows; r++) copy.copy(tensors, t.offset + r * rowBytes, (rows - 1 - r) * rowBytes, (rows - r) * rowBytes);
    }
  }
  writeFileSync(join(dir, 'tensors.bin'), tensors);
  copyFileSync(join(SOURCE, 'items.bin'), join(dir, 'items.bin'));
  manifest.model.version = version;
  manifest.files.find((f) => f.name === 'tensors.bin').sha256 = sha256(tensors);
  const manifestText = JSON.stringify(manifest, null, 2);
  let signature = null;
  if (seedHex) {
    const { privateKey, publicHex } = keyPair(seedHex);
    signature = { algorithm: 'ed25519', public_key: publicHex, value: sign(null, Buffer.from(manifestText), privateKey).toString('hex') };
  }
  writeFileSync(join(dir, 'manifest.json'), `{"manifest": ${manifestText},\n"signature": ${JSON.stringify(signature)}}\n`);
  if (corrupt) {
    tensors[100] ^= 0xff;
    writeFileSync(join(dir, 'tensors.bin'), tensors);
  }
  return dir;
}

/** Makes `version` the latest: a temporary file renamed onto LATEST (atomic on POSIX). */
export function publish(modelsDir, version) {
  const tmp = join(modelsDir, `.LATEST.${process.pid}`);
  writeFileSync(tmp, `${version}\n`);
  renameSync(tmp, join(modelsDir, 'LATEST'));
}
