//! `containerd-shim-berth-v2 -info`: containerd 2.x's runtime introspection. containerd runs
//! the binary with `-info`, the runtime options (`RuntimeRequest.options`, a protobuf-encoded
//! `google.protobuf.Any`, empty for none) on stdin, and reads one protobuf-encoded
//! `containerd.types.RuntimeInfo` from stdout: the runtime's name and version, the options
//! echoed back, and the runtime-spec features document (what `berth features` prints) as an
//! `Any` holding its JSON under the type URL containerd registers for it. CRI reads those
//! features to decide, for instance, whether a handler supports user namespaces.
//!
//! Options this shim would refuse at Create are refused here too (exit status 1, the error on
//! stderr), so that an operator learns of a bad handler config before the first pod.

use std::io::{Read, Write};
use std::path::Path;

use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::types::introspection::{RuntimeInfo, RuntimeVersion};

use crate::options::{self, OptionsError};

/// The type URL containerd 2.x gives runtime-spec's `features.Features` (JSON in an Any).
pub const FEATURES_TYPE_URL: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

/// The largest options message read from stdin.
const MAX_OPTIONS_BYTES: u64 = 1 << 20;

/// Why `-info` cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    #[error("-info: read the runtime options from stdin")]
    Read(#[source] std::io::Error),
    #[error("-info: the runtime options on stdin are larger than {MAX_OPTIONS_BYTES} bytes")]
    TooLarge,
    #[error("-info: decode the runtime options on stdin as a google.protobuf.Any")]
    DecodeAny(#[source] containerd_shim::protos::protobuf::Error),
    #[error("-info")]
    Options(#[source] OptionsError),
    #[error("-info: encode the RuntimeInfo")]
    Encode(#[source] containerd_shim::protos::protobuf::Error),
    #[error("-info: write the RuntimeInfo to stdout")]
    Write(#[source] std::io::Error),
}

/// The RuntimeInfo for `options` (the bytes containerd wrote on stdin). `state_base` is the
/// shim's state base (the only `Root` option it accepts).
pub fn runtime_info(
    runtime_id: &str,
    options: &[u8],
    state_base: &Path,
) -> Result<RuntimeInfo, InfoError> {
    let options = if options.is_empty() {
        None
    } else {
        let any = Any::parse_from_bytes(options).map_err(InfoError::DecodeAny)?;
        options::decode(Some(&any), state_base).map_err(InfoError::Options)?;
        Some(any)
    };
    let features = serde_json::to_vec(&berth_runtime::features::features())
        .expect("the features document serializes");
    Ok(RuntimeInfo {
        name: runtime_id.to_string(),
        version: MessageField::some(RuntimeVersion {
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        }),
        options: options.into(),
        features: MessageField::some(Any {
            type_url: FEATURES_TYPE_URL.to_string(),
            value: features,
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// `-info` itself: stdin to stdout.
pub fn run(runtime_id: &str, state_base: &Path) -> Result<(), InfoError> {
    let mut input = Vec::new();
    std::io::stdin()
        .take(MAX_OPTIONS_BYTES + 1)
        .read_to_end(&mut input)
        .map_err(InfoError::Read)?;
    if input.len() as u64 > MAX_OPTIONS_BYTES {
        return Err(InfoError::TooLarge);
    }
    let info = runtime_info(runtime_id, &input, state_base)?;
    let bytes = info.write_to_bytes().map_err(InfoError::Encode)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes).map_err(InfoError::Write)?;
    out.flush().map_err(InfoError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim::protos::shim::oci::Options as RuncOptions;

    const BASE: &str = "/run/containerd/berth";

    #[test]
    fn info_without_options_names_the_runtime_and_carries_the_features() {
        let info = runtime_info("io.containerd.berth.v2", &[], Path::new(BASE)).unwrap();
        let bytes = info.write_to_bytes().unwrap();
        let back = RuntimeInfo::parse_from_bytes(&bytes).unwrap();
        assert_eq!(back.name, "io.containerd.berth.v2");
        assert_eq!(back.version.version, env!("CARGO_PKG_VERSION"));
        assert!(back.options.is_none());
        assert_eq!(back.features.type_url, FEATURES_TYPE_URL);
        let features: serde_json::Value = serde_json::from_slice(&back.features.value).unwrap();
        assert_eq!(features, berth_runtime::features::features());
    }

    #[test]
    fn info_echoes_options_it_accepts_and_refuses_the_others() {
        let any = |o: RuncOptions| Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: o.write_to_bytes().unwrap(),
            ..Default::default()
        };
        let ok = any(RuncOptions {
            no_pivot_root: true,
            ..Default::default()
        });
        let info = runtime_info("r", &ok.write_to_bytes().unwrap(), Path::new(BASE)).unwrap();
        assert_eq!(info.options.as_ref(), Some(&ok));
        let bad = any(RuncOptions {
            binary_name: "runc".into(),
            ..Default::default()
        });
        let err = runtime_info("r", &bad.write_to_bytes().unwrap(), Path::new(BASE)).unwrap_err();
        assert_eq!(
            crate::error::chain(&err),
            "-info: runtime option BinaryName = \"runc\": berth's shim runs containers with the berth library in-process, not with a runtime binary"
        );
        let err = runtime_info("r", b"\xff\xff", Path::new(BASE)).unwrap_err();
        assert!(crate::error::chain(&err)
            .starts_with("-info: decode the runtime options on stdin as a google.protobuf.Any"));
    }
}
