//! `edgerec bundle build | inspect | verify`: the model bundle on the command line.
//!
//! `build` turns safetensors + items into a bundle and prints the quantization report as JSON;
//! `inspect` prints the manifest, sizes and every check; `verify` runs the loader's full
//! validation and exits non-zero on any failure.

use clap::{Args, Subcommand};
use edgerec::bundle::builder::{
    self, BuildConfig, QuantRule, parse_scheme, read_items_csv, read_items_jsonl, read_safetensors,
    rfc3339_utc, scheme_name,
};
use edgerec::bundle::integrity::{decode_hex, sha256_hex};
use edgerec::bundle::manifest::MANIFEST_FILE;
use edgerec::bundle::{Bundle, LoadOptions, Similarity, parse_manifest};
use edgerec::compute::{IvfIndex, IvfParams};
use std::path::{Path, PathBuf};

/// Arguments of `edgerec bundle`.
#[derive(Args)]
pub struct BundleArgs {
    #[command(subcommand)]
    what: BundleWhat,
}

#[derive(Subcommand)]
// Parsed once per process: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
enum BundleWhat {
    /// Build a bundle from safetensors + items (JSONL or CSV); prints the report as JSON.
    Build {
        /// Input tensors (safetensors). Must hold `item_embeddings` [items, dim].
        #[arg(long)]
        tensors: PathBuf,
        /// Items: `.jsonl` (one object per line) or `.csv` (header row).
        #[arg(long)]
        items: PathBuf,
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Model id.
        #[arg(long)]
        model_id: String,
        /// Model version.
        #[arg(long)]
        model_version: String,
        /// Export time, RFC 3339 UTC; default now. Pass it for byte-reproducible builds.
        #[arg(long)]
        created_at: Option<String>,
        /// Recall similarity: dot or cosine.
        #[arg(long, default_value = "dot")]
        similarity: String,
        /// Softmax temperature the model was trained with.
        #[arg(long, default_value_t = 1.0)]
        temperature: f32,
        /// PATTERN=SCHEME, repeatable, first match wins. PATTERN: a name, `prefix*` or `*`;
        /// SCHEME: f32, f16, i8, i8-f16, i8-tensor, i8-tensor-f16. Defaults after yours:
        /// item_embeddings=i8, *=f32.
        #[arg(long = "quant")]
        quant: Vec<String>,
        /// File with the Ed25519 secret key (32-byte seed, 64 hex digits) to sign with.
        #[arg(long)]
        signing_key: Option<PathBuf>,
        /// Queries sampled for the recall report.
        #[arg(long, default_value_t = 256)]
        eval_queries: usize,
        /// Seed of the query sampler (and of the IVF k-means).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Also build an IVF index with this many lists (k-means on item_embeddings), stored
        /// as the ivf.* tensors; clients search it with an `nprobe`.
        #[arg(long)]
        ivf_lists: Option<usize>,
        /// Lloyd iterations of the IVF k-means.
        #[arg(long, default_value_t = 10)]
        ivf_iters: usize,
    },
    /// Print the manifest, sizes and checks of a bundle directory.
    Inspect {
        /// Bundle directory.
        dir: PathBuf,
        /// Ed25519 public key (64 hex digits) to check the signature with.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Check hashes, signature and contents; exit non-zero on any mismatch.
    Verify {
        /// Bundle directory.
        dir: PathBuf,
        /// Ed25519 public key (64 hex digits); when given, a valid signature is required.
        #[arg(long)]
        public_key: Option<String>,
    },
}

/// Runs `edgerec bundle …`.
pub fn run(args: &BundleArgs) -> Result<(), String> {
    match &args.what {
        BundleWhat::Build {
            tensors,
            items,
            out,
            model_id,
            model_version,
            created_at,
            similarity,
            temperature,
            quant,
            signing_key,
            eval_queries,
            seed,
            ivf_lists,
            ivf_iters,
        } => {
            let tensor_bytes = read(tensors)?;
            let mut sources = read_safetensors(&tensor_bytes).map_err(|e| e.to_string())?;
            let similarity = similarity.parse::<Similarity>().map_err(|e| e.to_string())?;
            if let Some(nlist) = *ivf_lists {
                let params = IvfParams { iters: *ivf_iters, seed: *seed, ..IvfParams::new(nlist) };
                let start = std::time::Instant::now();
                let ivf = IvfIndex::add_to_sources(&mut sources, similarity, &params)
                    .map_err(|e| e.to_string())?;
                let largest = (0..ivf.nlist()).map(|l| ivf.list(l).len()).max().unwrap_or(0);
                eprintln!(
                    "ivf: {} lists over {} items in {:.1} s (largest list {largest})",
                    ivf.nlist(),
                    ivf.rows(),
                    start.elapsed().as_secs_f64()
                );
            }
            let item_bytes = read(items)?;
            let records = match items.extension().and_then(|e| e.to_str()) {
                Some("csv") => read_items_csv(&item_bytes),
                _ => read_items_jsonl(
                    std::str::from_utf8(&item_bytes)
                        .map_err(|e| format!("{}: not UTF-8: {e}", items.display()))?,
                ),
            }
            .map_err(|e| e.to_string())?;
            let mut rules = Vec::new();
            for q in quant {
                let (pattern, scheme) = q
                    .split_once('=')
                    .ok_or_else(|| format!("--quant {q:?}: expected PATTERN=SCHEME"))?;
                rules.push(QuantRule {
                    pattern,
                    scheme: parse_scheme(scheme).map_err(|e| e.to_string())?,
                });
            }
            let signing_key = match signing_key {
                Some(path) => Some(read_key(path)?),
                None => None,
            };
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            let created_at = created_at.clone().unwrap_or_else(|| rfc3339_utc(now));
            let config = BuildConfig {
                model_id,
                model_version,
                created_at: &created_at,
                similarity,
                temperature: *temperature,
                rules: &rules,
                signing_key,
                eval_queries: *eval_queries,
                seed: *seed,
            };
            let built = builder::build(&sources, &records, &config).map_err(|e| e.to_string())?;
            built.write_to(out).map_err(|e| e.to_string())?;
            let report = serde_json::to_string_pretty(&built.report).map_err(|e| e.to_string())?;
            println!("{report}");
            Ok(())
        }
        BundleWhat::Inspect { dir, public_key } => inspect(dir, public_key.as_deref()),
        BundleWhat::Verify { dir, public_key } => {
            let options = options(public_key.as_deref())?;
            let bundle = Bundle::open(dir, &options).map_err(|e| format!("[{}] {e}", e.code()))?;
            let m = bundle.manifest();
            let signature = if bundle.signature_verified() {
                "signature verified"
            } else if bundle.is_signed() {
                "signed, signature not checked (no --public-key)"
            } else {
                "unsigned"
            };
            println!(
                "ok: {} {} — {} items, {} bytes, hashes match, {signature}",
                m.model.id,
                m.model.version,
                bundle.items().len(),
                bundle.stored_bytes()
            );
            Ok(())
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_key(path: &Path) -> Result<[u8; 32], String> {
    let bytes = read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    decode_hex::<32>(text.trim()).ok_or_else(|| {
        format!("{}: expected 64 hex digits (a 32-byte Ed25519 seed)", path.display())
    })
}

fn options(public_key: Option<&str>) -> Result<LoadOptions, String> {
    Ok(LoadOptions {
        public_key: match public_key {
            Some(hex) => Some(
                decode_hex::<32>(hex.trim())
                    .ok_or("--public-key: expected 64 hex digits (32-byte Ed25519 public key)")?,
            ),
            None => None,
        },
    })
}

fn inspect(dir: &Path, public_key: Option<&str>) -> Result<(), String> {
    let options = options(public_key)?;
    let manifest_bytes = read(&dir.join(MANIFEST_FILE))?;
    // Parse without the key first so a bundle whose signature fails can still be shown.
    let checked =
        parse_manifest(&manifest_bytes, None).map_err(|e| format!("[{}] {e}", e.code()))?;
    let m = &checked.manifest;
    println!("bundle {}", dir.display());
    println!("  format version  {}", m.format_version);
    println!("  model           {} {}", m.model.id, m.model.version);
    println!("  created at      {}", m.created_at);
    println!("  embedding dim   {}", m.embedding_dim);
    println!("  similarity      {:?}, temperature {}", m.similarity, m.temperature);
    println!("  items           {} in {}", m.items.count, m.items.file);
    println!("  manifest sha256 {}", checked.manifest_sha256);
    match &checked.signature {
        Some(s) => println!("  signature       {} by {}", s.algorithm, s.public_key),
        None => println!("  signature       none"),
    }
    println!("files:");
    let mut failed = false;
    for f in &m.files {
        let status = match std::fs::read(dir.join(&f.name)) {
            Err(e) => format!("MISSING ({e})"),
            Ok(b) if b.len() as u64 != f.bytes => format!("WRONG SIZE ({} bytes)", b.len()),
            Ok(b) if sha256_hex(&b) != f.sha256 => "HASH MISMATCH".into(),
            Ok(_) => "sha256 ok".into(),
        };
        failed |= status != "sha256 ok";
        println!("  {:<14} {:>12} bytes  {}  {status}", f.name, f.bytes, &f.sha256[..16]);
    }
    println!("tensors:");
    println!("  {:<26} {:<22} {:<10} {:>8} {:>8}", "name", "storage", "shape", "offset", "bytes");
    for t in &m.tensors {
        let storage = match (t.granularity, &t.scales) {
            (Some(g), Some(scales)) => {
                let scale_dtype = m.tensors.iter().find(|x| &x.name == scales).map(|x| x.dtype);
                format!("{:?} {:?}, {:?} scales", t.dtype, g, scale_dtype.unwrap_or(t.dtype))
            }
            _ => format!("{:?}", t.dtype),
        }
        .to_lowercase();
        let shape = format!("{:?}", t.shape);
        println!("  {:<26} {:<22} {:<10} {:>8} {:>8}", t.name, storage, shape, t.offset, t.bytes);
    }
    println!("checks:");
    match Bundle::open(dir, &options) {
        Ok(b) => {
            let emb = b.item_embeddings();
            let scheme = emb.scheme().map_or("u32", scheme_name);
            let f32_bytes = emb.rows() * emb.cols() * 4;
            let scale_bytes = match emb.scheme().map(|s| s.scale) {
                Some(edgerec::bundle::ScaleDType::F16) => 2,
                _ => 4,
            };
            let stored = emb.stored_bytes() + emb.scales().len() * scale_bytes;
            println!("  all checks passed (hashes, shapes, offsets, values, unique ids)");
            println!(
                "  signature: {}",
                if b.signature_verified() {
                    "verified"
                } else if b.is_signed() {
                    "present, not checked (pass --public-key)"
                } else {
                    "none"
                }
            );
            println!(
                "  item index: {scheme}, {stored} bytes vs {f32_bytes} as f32 (ratio {:.3})",
                stored as f64 / f32_bytes as f64
            );
        }
        Err(e) => {
            println!("  FAILED: [{}] {e}", e.code());
            failed = true;
        }
    }
    if failed { Err("bundle failed its checks".into()) } else { Ok(()) }
}
