//! Reading a GPU buffer back: copy into a `MAP_READ` staging buffer, `map_async` with a callback
//! feeding a oneshot channel, poll on native (the browser drives the callback itself), copy out,
//! drop the view, unmap.

use crate::error::{Error, Result};

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
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::Gpu { stage: "readback", reason: e.to_string() })?;
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
