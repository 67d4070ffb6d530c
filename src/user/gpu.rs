//! The user model on the GPU, through the compute seam: the history table and the item
//! embeddings as [`GpuTable`]s (mean pooling for the tower, attention pooling for the gradient's
//! expectation `Σ π_i x_i`) and the tower MLP as a [`GpuMlp`]. The record / query logic is the
//! CPU path's, so results agree up to float rounding (the parity test in `tests/user.rs`).

use super::model::{Backend, UserModel};
use super::state::{Interaction, ModelStamp, UserState};
use crate::compute::gpu::{GpuContext, GpuMlp, GpuTable};
use crate::compute::gradient::{
    SoftmaxExample, softmax_gradient_from_expectation, softmax_pool_request,
};
use crate::compute::pool::{PoolRequest, Pooling};
use crate::error::{Error, Result};

/// A [`UserModel`]'s tensors resident on one GPU device; create once per model and context
/// ([`GpuUserModel::upload`]) and pass to [`UserModel::record_gpu`] and friends.
#[derive(Debug)]
pub struct GpuUserModel {
    stamp: ModelStamp,
    history: GpuTable,
    items: GpuTable,
    mlp: GpuMlp,
}

impl GpuUserModel {
    /// Uploads `model`'s history table, item embeddings and tower MLP.
    ///
    /// # Errors
    /// [`Error::BufferTooLarge`], [`Error::DeviceLost`], [`Error::Gpu`].
    pub async fn upload(ctx: &GpuContext, model: &UserModel) -> Result<Self> {
        Ok(Self {
            stamp: model.stamp().clone(),
            history: GpuTable::upload(ctx, &model.history_table).await?,
            items: GpuTable::upload(ctx, &model.item_embeddings).await?,
            mlp: GpuMlp::upload(ctx, &model.mlp).await?,
        })
    }

    /// The model these buffers were uploaded from.
    pub fn stamp(&self) -> &ModelStamp {
        &self.stamp
    }
}

struct Gpu<'a> {
    ctx: &'a GpuContext,
    gpu: &'a mut GpuUserModel,
}

impl Gpu<'_> {
    fn new<'a>(
        ctx: &'a GpuContext,
        gpu: &'a mut GpuUserModel,
        model: &UserModel,
    ) -> Result<Gpu<'a>> {
        if gpu.stamp != *model.stamp() {
            return Err(Error::InvalidArgument {
                name: "gpu",
                reason: format!(
                    "uploaded from {:?}, used with {:?}; upload this model",
                    gpu.stamp,
                    model.stamp()
                ),
            });
        }
        Ok(Gpu { ctx, gpu })
    }
}

impl Backend for Gpu<'_> {
    async fn tower(&mut self, _model: &UserModel, rows: &[u32]) -> Result<Vec<f32>> {
        let weights = vec![1.0f32; rows.len()];
        let request =
            PoolRequest { ids: rows, weights: &weights, slots: rows.len(), queries: None };
        let pooled = self.gpu.history.pool(self.ctx, &request, Pooling::Mean).await?;
        self.gpu.mlp.forward(self.ctx, &pooled).await
    }

    async fn gradient(
        &mut self,
        model: &UserModel,
        example: &SoftmaxExample<'_>,
    ) -> Result<Vec<f32>> {
        let (weights, pooling) = softmax_pool_request(&model.item_embeddings, example)?;
        let request = PoolRequest {
            ids: example.candidates,
            weights: &weights,
            slots: example.candidates.len(),
            queries: Some(example.user),
        };
        let expectation = self.gpu.items.pool(self.ctx, &request, pooling).await?;
        softmax_gradient_from_expectation(&model.item_embeddings, example, &expectation)
    }
}

impl UserModel {
    /// [`UserModel::tower_query`] on the GPU.
    ///
    /// # Errors
    /// As the CPU method; [`Error::InvalidArgument`] when `gpu` was uploaded from another model;
    /// [`Error::DeviceLost`], [`Error::Gpu`].
    pub async fn tower_query_gpu(
        &self,
        ctx: &GpuContext,
        gpu: &mut GpuUserModel,
        state: &UserState,
    ) -> Result<Option<Vec<f32>>> {
        self.tower_query_on(&mut Gpu::new(ctx, gpu, self)?, state).await
    }

    /// [`UserModel::query`] on the GPU.
    ///
    /// # Errors
    /// As [`UserModel::tower_query_gpu`] and [`UserModel::query`].
    pub async fn query_gpu(
        &self,
        ctx: &GpuContext,
        gpu: &mut GpuUserModel,
        state: &UserState,
    ) -> Result<Option<Vec<f32>>> {
        self.query_on(&mut Gpu::new(ctx, gpu, self)?, state).await
    }

    /// [`UserModel::record`] with the tower and the gradient on the GPU (same sampling, so the
    /// residual matches the CPU path's up to float rounding). On error nothing changes.
    ///
    /// # Errors
    /// As [`UserModel::record`] and [`UserModel::tower_query_gpu`].
    pub async fn record_gpu(
        &self,
        ctx: &GpuContext,
        gpu: &mut GpuUserModel,
        state: &mut UserState,
        interaction: &Interaction,
        now_ms: f64,
    ) -> Result<()> {
        self.record_on(&mut Gpu::new(ctx, gpu, self)?, state, interaction, now_ms, true).await
    }
}
