//! An item index resident on the GPU, and the batched top-k query that runs over it.

use super::buffers::{Growable, check_size, create, entries, max_binding};
use super::shaders::TILE_ROWS;
use super::{GpuContext, key_to_score, readback};
use crate::bundle::DType;
use crate::compute::TopK;
use crate::compute::index::{ItemIndex, ScoreRequest, Similarity, validate_request};
use crate::error::{Error, Result};

/// Bytes of `ScoreParams` (`score_topk.wgsl`).
pub(crate) const SCORE_PARAMS_BYTES: u64 = 48;
/// Bytes of `MergeParams` (`merge_topk.wgsl`).
pub(crate) const MERGE_PARAMS_BYTES: u64 = 16;
/// Distance between per-pass uniform slots; WebGPU guarantees
/// `minUniformBufferOffsetAlignment <= 256`.
const PARAMS_SLOT: u64 = 256;
/// Uniform slots for merge passes: each divides the lists by >= 2, so 40 cover any index a
/// 32-bit row count allows. Score passes take one more slot per chunk.
const MERGE_SLOTS: u64 = 40;
/// The sentinel id of padding entries (`PAD_ID` in `topk_common.wgsl`).
const PAD_ID: u32 = u32::MAX;

/// Mirrors `ScoreParams` in `score_topk.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct ScoreParams {
    chunk_rows: u32,
    first_row: u32,
    row_vec4s: u32,
    query_vec4s: u32,
    positions: u32,
    k: u32,
    flags: u32,
    first_list: u32,
    lists_per_query: u32,
    tiles_per_group: u32,
    pad: [u32; 2],
}
const _: () = assert!(size_of::<ScoreParams>() as u64 == SCORE_PARAMS_BYTES);

/// Mirrors `MergeParams` in `merge_topk.wgsl`.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct MergeParams {
    lists: u32,
    k: u32,
    out_lists: u32,
    pad: u32,
}
const _: () = assert!(size_of::<MergeParams>() as u64 == MERGE_PARAMS_BYTES);

const FLAG_MASK: u32 = 1;
const FLAG_CANDIDATES: u32 = 2;

/// Options for [`GpuIndex::upload_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GpuIndexOptions {
    /// Split the stored matrix into buffers of at most this many bytes (default: the device's
    /// storage-binding limit). Smaller values exercise chunking in tests.
    pub max_chunk_bytes: Option<u64>,
    /// Tiles of `TILE_ROWS` positions one score workgroup streams through (default: chosen per
    /// call by [`tiles_per_group`]). Larger spans sort less often but run fewer workgroups.
    pub tiles_per_group: Option<u32>,
}

/// Score workgroups per call the default span aims for: about one wave on a large GPU (an H100
/// keeps 132 SMs × 8 such workgroups resident), several on a small one.
const TARGET_WORKGROUPS: u32 = 1024;
/// The longest default span: beyond it a workgroup's serial rounds dominate.
const MAX_TILES_PER_GROUP: u32 = 64;

/// The default span of a score workgroup, in tiles, for `tiles` tiles per query and `batch`
/// queries: 1 until there are more than [`TARGET_WORKGROUPS`] tiles, then as many tiles as keep
/// about that many workgroups. Each workgroup sorts its buffer once per ~`TILE_ROWS` rows that
/// beat its running threshold, so longer spans mean fewer sorts per row read.
pub(crate) fn tiles_per_group(tiles: u32, batch: u32) -> u32 {
    (tiles.saturating_mul(batch) / TARGET_WORKGROUPS).clamp(1, MAX_TILES_PER_GROUP)
}

/// One storage buffer holding a contiguous range of rows.
#[derive(Debug)]
struct Chunk {
    first_row: u32,
    rows: u32,
    buffer: wgpu::Buffer,
}

/// Number of lists per query after each merge, starting from `lists`, until one is left.
fn merge_schedule(lists: u32, k_pow2: u32) -> Vec<u32> {
    let per_merge = TILE_ROWS / k_pow2;
    let mut counts = vec![lists];
    while let Some(&last) = counts.last()
        && last > 1
    {
        counts.push(last.div_ceil(per_merge));
    }
    counts
}

/// An item index uploaded once, plus the per-query buffers and bind groups reused across calls.
#[derive(Debug)]
pub struct GpuIndex {
    rows: u32,
    dim: usize,
    dtype: DType,
    similarity: Similarity,
    /// vec4<u32> per stored row.
    row_vec4s: u32,
    /// Values one vec4<u32> holds: 4 (f32), 8 (f16), 16 (int8).
    values_per_vec4: usize,
    chunks: Vec<Chunk>,
    row_mult: wgpu::Buffer,
    mask: wgpu::Buffer,
    params: wgpu::Buffer,
    queries: Growable,
    candidates: Growable,
    ping: Growable,
    pong: Growable,
    staging: Growable,
    groups: Option<BindGroups>,
    forced_tiles_per_group: Option<u32>,
    query_staging: Vec<f32>,
    sorted_candidates: Vec<u32>,
}

/// Bind groups over the current buffers; rebuilt only when a buffer grows.
#[derive(Debug)]
struct BindGroups {
    score: Vec<wgpu::BindGroup>,
    ping_to_pong: wgpu::BindGroup,
    pong_to_ping: wgpu::BindGroup,
}

impl GpuIndex {
    /// Uploads `index` with default options.
    ///
    /// # Errors
    /// As [`GpuIndex::upload_with`].
    pub async fn upload(ctx: &GpuContext, index: &ItemIndex) -> Result<Self> {
        Self::upload_with(ctx, index, GpuIndexOptions::default()).await
    }

    /// Uploads the stored rows (zero-padded to whole `vec4<u32>`), split into as many storage
    /// buffers as the device's binding limit requires, and the per-row multipliers.
    ///
    /// # Errors
    /// [`Error::BufferTooLarge`] when one row or the multipliers exceed a binding,
    /// [`Error::DeviceLost`], or [`Error::Gpu`] when an allocation fails.
    pub async fn upload_with(
        ctx: &GpuContext,
        index: &ItemIndex,
        options: GpuIndexOptions,
    ) -> Result<Self> {
        ctx.check_alive()?;
        let matrix = index.matrix();
        let (dim, rows) = (index.dim(), index.rows());
        let rows32 = u32::try_from(rows).map_err(|_| Error::BufferTooLarge {
            what: "item rows",
            bytes: rows as u64,
            limit: u64::from(u32::MAX),
        })?;
        let dtype = matrix.scheme().dtype;
        let values_per_vec4 = match dtype {
            DType::F32 => 4,
            DType::F16 => 8,
            DType::I8 => 16,
        };
        let row_vec4s = dim.div_ceil(values_per_vec4);
        let row_bytes = row_vec4s as u64 * 16;
        let chunk_limit = options.max_chunk_bytes.unwrap_or(u64::MAX).min(max_binding(ctx));
        // Chunks hold whole tiles so a tile never straddles two buffers.
        let rows_per_chunk =
            (chunk_limit / row_bytes / u64::from(TILE_ROWS)) * u64::from(TILE_ROWS);
        let rows_per_chunk = if rows_per_chunk == 0 {
            // Less than one tile fits: chunk by rows (still correct, a tile may be partial).
            chunk_limit / row_bytes
        } else {
            rows_per_chunk
        };
        if rows_per_chunk == 0 {
            return Err(Error::BufferTooLarge {
                what: "item row",
                bytes: row_bytes,
                limit: chunk_limit,
            });
        }
        check_size(ctx, "row multipliers", rows as u64 * 4)?;

        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST;
        let words_per_row = matrix.scheme().words_per_row(dim);
        let padded_words = row_vec4s * 4;
        let mut chunks = Vec::new();
        let mut first = 0usize;
        let mut padded = Vec::new();
        while first < rows {
            let count = (rows - first).min(rows_per_chunk as usize);
            let buffer = create(ctx, "edgerec items", storage, count as u64 * row_bytes);
            let src = &matrix.words()[first * words_per_row..(first + count) * words_per_row];
            if words_per_row == padded_words {
                ctx.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(src));
            } else {
                padded.clear();
                padded.resize(count * padded_words, 0u32);
                for (dst, row) in
                    padded.chunks_exact_mut(padded_words).zip(src.chunks_exact(words_per_row))
                {
                    dst[..words_per_row].copy_from_slice(row);
                }
                ctx.queue.write_buffer(&buffer, 0, bytemuck::cast_slice(&padded));
            }
            chunks.push(Chunk { first_row: first as u32, rows: count as u32, buffer });
            first += count;
        }
        let row_mult = create(ctx, "edgerec row multipliers", storage, rows as u64 * 4);
        ctx.queue.write_buffer(&row_mult, 0, bytemuck::cast_slice(index.row_mult()));
        let mask = create(ctx, "edgerec mask", storage, rows.div_ceil(32) as u64 * 4);
        let params = create(
            ctx,
            "edgerec pass params",
            wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            PARAMS_SLOT * (chunks.len() as u64 + MERGE_SLOTS),
        );
        let lists = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
        let readback = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let this = Self {
            rows: rows32,
            dim,
            dtype,
            similarity: index.similarity(),
            row_vec4s: row_vec4s as u32,
            values_per_vec4,
            chunks,
            row_mult,
            mask,
            params,
            queries: Growable::new(ctx, "edgerec queries", storage, row_vec4s as u64 * 16),
            candidates: Growable::new(ctx, "edgerec candidates", storage, 16),
            ping: Growable::new(ctx, "edgerec top-k lists (ping)", lists, 16),
            pong: Growable::new(ctx, "edgerec top-k lists (pong)", lists, 16),
            staging: Growable::new(ctx, "edgerec top-k readback", readback, 16),
            groups: None,
            forced_tiles_per_group: options.tiles_per_group.map(|t| t.max(1)),
            query_staging: Vec::new(),
            sorted_candidates: Vec::new(),
        };
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "item upload", reason: e.to_string() });
        }
        Ok(this)
    }

    /// Number of items on the device.
    pub fn rows(&self) -> usize {
        self.rows as usize
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Storage buffers the matrix was split into.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    fn bind_groups(&self, ctx: &GpuContext) -> BindGroups {
        let uniform = |size| {
            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.params,
                offset: 0,
                size: wgpu::BufferSize::new(size),
            })
        };
        let score = self
            .chunks
            .iter()
            .map(|chunk| {
                ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("edgerec score"),
                    layout: &ctx.score_layout,
                    entries: &entries(vec![
                        uniform(SCORE_PARAMS_BYTES),
                        chunk.buffer.as_entire_binding(),
                        self.row_mult.as_entire_binding(),
                        self.queries.buffer.as_entire_binding(),
                        self.mask.as_entire_binding(),
                        self.candidates.buffer.as_entire_binding(),
                        self.ping.buffer.as_entire_binding(),
                    ]),
                })
            })
            .collect();
        let merge = |label, input: &wgpu::Buffer, output: &wgpu::Buffer| {
            ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &ctx.merge_layout,
                entries: &entries(vec![
                    uniform(MERGE_PARAMS_BYTES),
                    input.as_entire_binding(),
                    output.as_entire_binding(),
                ]),
            })
        };
        BindGroups {
            score,
            ping_to_pong: merge("edgerec merge ping→pong", &self.ping.buffer, &self.pong.buffer),
            pong_to_ping: merge("edgerec merge pong→ping", &self.pong.buffer, &self.ping.buffer),
        }
    }

    /// Scores the request's queries on the GPU and returns each query's best `k` (score desc,
    /// exact ties to the lower index) — fewer when fewer items are eligible.
    ///
    /// # Errors
    /// Input errors as [`ItemIndex::validate`]; [`Error::BufferTooLarge`] for a batch whose
    /// working buffers exceed the device; [`Error::DeviceLost`]; [`Error::Gpu`].
    pub async fn score_top_k(
        &mut self,
        ctx: &GpuContext,
        request: &ScoreRequest<'_>,
    ) -> Result<Vec<TopK>> {
        let batch = validate_request(self.rows(), self.dim, request)?;
        ctx.check_alive()?;
        let batch32 = u32::try_from(batch).map_err(|_| Error::InvalidArgument {
            name: "queries",
            reason: format!("batch of {batch} queries is too large"),
        })?;
        // k <= MAX_K = 1024 after validation, so a merge tile always holds two lists.
        let k_pow2 = (request.k as u32).next_power_of_two();

        // Lists each chunk's score pass writes, per query.
        let positions = |chunk: &Chunk| request.candidates.map_or(chunk.rows, |c| c.len() as u32);
        let all_tiles = self.chunks.iter().map(|c| positions(c).div_ceil(TILE_ROWS)).sum();
        let span_tiles =
            self.forced_tiles_per_group.unwrap_or_else(|| tiles_per_group(all_tiles, batch32));
        let span = TILE_ROWS.saturating_mul(span_tiles);
        let tiles: Vec<u32> = self.chunks.iter().map(|c| positions(c).div_ceil(span)).collect();
        let lists: u32 = tiles.iter().sum();
        let schedule = merge_schedule(lists, k_pow2);
        if schedule.len() > MERGE_SLOTS as usize {
            return Err(Error::BufferTooLarge {
                what: "merge pass parameters",
                bytes: schedule.len() as u64 * PARAMS_SLOT,
                limit: MERGE_SLOTS * PARAMS_SLOT,
            });
        }

        // Working buffers: grow when needed; a replaced buffer invalidates the bind groups.
        let entry = 8u64;
        let query_vec4s = self.row_vec4s as usize * self.values_per_vec4 / 4;
        let per_list = u64::from(k_pow2) * entry * u64::from(batch32);
        let mut stale = self.groups.is_none();
        stale |= self.queries.reserve(ctx, (batch * query_vec4s * 16) as u64)?;
        stale |=
            self.candidates.reserve(ctx, request.candidates.map_or(0, |c| c.len() as u64 * 4))?;
        stale |= self.ping.reserve(ctx, u64::from(lists) * per_list)?;
        stale |= self.pong.reserve(ctx, u64::from(lists.div_ceil(2)) * per_list)?;
        self.staging.reserve(ctx, per_list)?;
        if stale {
            self.groups = Some(self.bind_groups(ctx));
        }

        // Queries: padded to whole vec4s per row; normalized for cosine (rows carry 1/‖x‖).
        self.query_staging.clear();
        self.query_staging.resize(batch * query_vec4s * 4, 0.0);
        for (dst, q) in self
            .query_staging
            .chunks_exact_mut(query_vec4s * 4)
            .zip(request.queries.chunks_exact(self.dim))
        {
            let scale = match self.similarity {
                Similarity::Dot => 1.0,
                Similarity::Cosine => {
                    let norm = q.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
                    if norm > 0.0 { 1.0 / norm } else { 0.0 }
                }
            };
            for (d, x) in dst.iter_mut().zip(q) {
                *d = (f64::from(*x) * scale) as f32;
            }
        }
        ctx.queue.write_buffer(&self.queries.buffer, 0, bytemuck::cast_slice(&self.query_staging));
        let mut flags = 0;
        if let Some(mask) = request.mask {
            ctx.queue.write_buffer(&self.mask, 0, bytemuck::cast_slice(mask.words()));
            flags |= FLAG_MASK;
        }
        if let Some(candidates) = request.candidates {
            // Sorted so that, within a tile, positions follow row order like everywhere else.
            self.sorted_candidates.clear();
            self.sorted_candidates.extend_from_slice(candidates);
            self.sorted_candidates.sort_unstable();
            ctx.queue.write_buffer(
                &self.candidates.buffer,
                0,
                bytemuck::cast_slice(&self.sorted_candidates),
            );
            flags |= FLAG_CANDIDATES;
        }

        let mut slots = vec![0u8; (self.chunks.len() + schedule.len()) * PARAMS_SLOT as usize];
        let mut slot = |i: usize, bytes: &[u8]| {
            let at = i * PARAMS_SLOT as usize;
            slots[at..at + bytes.len()].copy_from_slice(bytes);
        };
        let mut first_list = 0;
        for (i, (chunk, &t)) in self.chunks.iter().zip(&tiles).enumerate() {
            let params = ScoreParams {
                chunk_rows: chunk.rows,
                first_row: chunk.first_row,
                row_vec4s: self.row_vec4s,
                query_vec4s: query_vec4s as u32,
                positions: positions(chunk),
                k: k_pow2,
                flags,
                first_list,
                lists_per_query: lists,
                tiles_per_group: span_tiles,
                pad: [0; 2],
            };
            slot(i, bytemuck::bytes_of(&params));
            first_list += t;
        }
        for (step, pair) in schedule.windows(2).enumerate() {
            let params = MergeParams { lists: pair[0], k: k_pow2, out_lists: pair[1], pad: 0 };
            slot(self.chunks.len() + step, bytemuck::bytes_of(&params));
        }
        ctx.queue.write_buffer(&self.params, 0, &slots);

        let Some(groups) = self.groups.as_ref() else {
            return Err(Error::Gpu { stage: "top-k", reason: "bind groups missing".into() });
        };
        let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let mut result_in_ping = true;
        {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            let pipeline = match self.dtype {
                DType::F32 => &ctx.score_pipelines[0],
                DType::F16 => &ctx.score_pipelines[1],
                DType::I8 => &ctx.score_pipelines[2],
            };
            pass.set_pipeline(pipeline);
            for (i, (group, &t)) in groups.score.iter().zip(&tiles).enumerate() {
                if t > 0 {
                    pass.set_bind_group(0, group, &[(i as u64 * PARAMS_SLOT) as u32]);
                    pass.dispatch_workgroups(t, batch32, 1);
                }
            }
            pass.set_pipeline(&ctx.merge_pipeline);
            for (step, pair) in schedule.windows(2).enumerate() {
                let group =
                    if result_in_ping { &groups.ping_to_pong } else { &groups.pong_to_ping };
                let offset = ((self.chunks.len() + step) as u64 * PARAMS_SLOT) as u32;
                pass.set_bind_group(0, group, &[offset]);
                pass.dispatch_workgroups(pair[1], batch32, 1);
                result_in_ping = !result_in_ping;
            }
        }
        // After the last pass each query has one list, stored contiguously: query b at b · k'.
        let result = if result_in_ping { &self.ping.buffer } else { &self.pong.buffer };
        encoder.copy_buffer_to_buffer(result, 0, &self.staging.buffer, 0, per_list);
        ctx.queue.submit([encoder.finish()]);
        if let Some(e) = scope.pop().await {
            return Err(Error::Gpu { stage: "top-k dispatch", reason: e.to_string() });
        }
        let raw = readback::read_mapped(&ctx.device, &self.staging.buffer, per_list).await?;
        ctx.check_alive()?;
        let pairs: &[[u32; 2]] = bytemuck::cast_slice(&raw);
        pairs
            .chunks_exact(k_pow2 as usize)
            .map(|list| {
                let mut top = TopK {
                    ids: Vec::with_capacity(request.k),
                    scores: Vec::with_capacity(request.k),
                };
                for &[key, id] in list.iter().take(request.k).take_while(|p| p[1] != PAD_ID) {
                    if id >= self.rows {
                        return Err(Error::Gpu {
                            stage: "top-k readback",
                            reason: format!("kernel returned row {id} of {}", self.rows),
                        });
                    }
                    top.ids.push(id);
                    top.scores.push(key_to_score(key));
                }
                Ok(top)
            })
            .collect()
    }

    /// One query, whole index: the simple form of [`GpuIndex::score_top_k`].
    ///
    /// # Errors
    /// As [`GpuIndex::score_top_k`].
    pub async fn top_k(&mut self, ctx: &GpuContext, query: &[f32], k: usize) -> Result<TopK> {
        Ok(self.score_top_k(ctx, &ScoreRequest::new(query, k)).await?.pop().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_TILES_PER_GROUP, merge_schedule, tiles_per_group};

    #[test]
    fn spans_grow_only_past_a_wave_of_workgroups() {
        // 100k rows (49 tiles) and 1M (489): one tile per workgroup, as many workgroups as tiles.
        assert_eq!(tiles_per_group(49, 1), 1);
        assert_eq!(tiles_per_group(489, 1), 1);
        // 10M rows (4883 tiles): 4 tiles each, about 1221 workgroups.
        assert_eq!(tiles_per_group(4883, 1), 4);
        assert_eq!(tiles_per_group(489, 64), 30);
        assert_eq!(tiles_per_group(u32::MAX, u32::MAX), MAX_TILES_PER_GROUP);
        assert_eq!(tiles_per_group(0, 3), 1);
    }

    #[test]
    fn merges_shrink_to_one_list() {
        assert_eq!(merge_schedule(1, 16), vec![1]);
        assert_eq!(merge_schedule(2, 1024), vec![2, 1]);
        // 1M rows, k' = 1024: 489 tiles, halved each merge.
        assert_eq!(merge_schedule(489, 1024), vec![489, 245, 123, 62, 31, 16, 8, 4, 2, 1]);
        // k' = 16 merges 128 lists per workgroup.
        assert_eq!(merge_schedule(4883, 16), vec![4883, 39, 1]);
    }
}
