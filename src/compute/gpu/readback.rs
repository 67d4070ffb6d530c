//! Reading a GPU buffer back: copy into a `MAP_READ` staging buffer, `map_async` with a callback
//! feeding a oneshot channel, poll on native (the browser drives the callback itself), copy out,
//! drop the view, unmap.

use crate::error::{Error, Result};

/// The longest a native readback waits for the GPU. Generous: a software adapter (lavapipe)
/// takes tens of seconds for a batch over 10M rows.
#[cfg(not(target_arch = "wasm32"))]
const GPU_WAIT_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

/// Maps the first `bytes` of `staging` (already filled by a submitted copy) and returns them.
pub(crate) async fn read_mapped(
    device: &wgpu::Device,
    staging: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>> {
    let (sender, receiver) = futures_channel::oneshot::channel();
    let slice = staging.slice(..bytes);
    slice.map_async(wgpu::MapMode::Read, move |outcome| {
        // The receiver only disappears if the caller was dropped; nothing to report then.
        let _ = sender.send(outcome);
    });
    #[cfg(not(target_arch = "wasm32"))]
    match device
        .poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(GPU_WAIT_LIMIT) })
    {
        Ok(_) => {}
        // A GPU that does not finish is as good as lost: the engine then falls back to the CPU
        // instead of blocking its caller forever.
        Err(wgpu::PollError::Timeout) => {
            return Err(Error::DeviceLost {
                reason: format!(
                    "the GPU did not finish a submission within {} s",
                    GPU_WAIT_LIMIT.as_secs()
                ),
            });
        }
        Err(e) => return Err(Error::Gpu { stage: "readback", reason: e.to_string() }),
    }
    #[cfg(target_arch = "wasm32")]
    let _ = device;
    match receiver.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(Error::Gpu { stage: "readback", reason: e.to_string() }),
        Err(_) => {
            return Err(Error::Gpu { stage: "readback", reason: "map callback dropped".into() });
        }
    }
    let bytes = {
        let view = slice
            .get_mapped_range()
            .map_err(|e| Error::Gpu { stage: "readback", reason: e.to_string() })?;
        view.to_vec()
    };
    staging.unmap();
    Ok(bytes)
}
