//! Reading `config.json` and checking its `ociVersion`.

use std::path::Path;

use oci_spec::runtime::Spec;

use super::BundleError;

/// The newest runtime-spec version berth implements.
pub const SUPPORTED_OCI_VERSION: &str = "1.3.0";

/// Reads and parses `<bundle>/config.json`. Unknown fields and annotation keys are tolerated
/// (config.md: "Runtimes MUST ignore unknown properties"); a major version other than 1 is not.
pub fn load_config(bundle: &Path) -> Result<Spec, BundleError> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path).map_err(|source| BundleError::ReadConfig {
        path: path.clone(),
        source,
    })?;
    // Check the version before the typed parse, so a 2.x config gets the version message rather
    // than a confusing field error.
    let version = serde_json::from_slice::<VersionOnly>(&text)
        .map_err(|source| BundleError::ParseConfig {
            path: path.clone(),
            source,
        })?
        .oci_version;
    if !version_supported(&version) {
        return Err(BundleError::UnsupportedVersion { path, version });
    }
    // serde_path_to_error names the field that failed: "linux.namespaces[3].type: unknown
    // variant `foo`" rather than only a line and column.
    let de = &mut serde_json::Deserializer::from_slice(&text);
    serde_path_to_error::deserialize(de).map_err(|e| BundleError::ParseField {
        path,
        field: e.path().to_string(),
        source: e.into_inner(),
    })
}

#[derive(serde::Deserialize)]
struct VersionOnly {
    #[serde(rename = "ociVersion")]
    oci_version: String,
}

/// Any 1.x version is accepted: the spec keeps 1.x backwards compatible, and a newer minor
/// version only adds fields, which are ignored like any unknown field.
fn version_supported(version: &str) -> bool {
    let mut parts = version.split(['.', '-', '+']);
    parts.next() == Some("1") && parts.next().is_some_and(|m| m.parse::<u32>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_1x_version() {
        for v in [
            "1.0.0",
            "1.0.2-dev",
            "1.1.0",
            "1.2.1",
            "1.3.0",
            "1.4.0-rc.1",
        ] {
            assert!(version_supported(v), "{v}");
        }
    }

    #[test]
    fn rejects_other_majors_and_garbage() {
        for v in ["2.0.0", "0.5.0", "", "1", "one.two", "10.0.0"] {
            assert!(!version_supported(v), "{v}");
        }
    }

    #[test]
    fn version_error_names_the_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), r#"{"ociVersion":"2.0.0"}"#).unwrap();
        let err = load_config(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("ociVersion \"2.0.0\" is not supported"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_field_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"},{"type":"foo"}]}}"#,
        )
        .unwrap();
        let err = load_config(dir.path()).unwrap_err();
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(
            chain.contains("config.json: linux.namespaces[1].type: unknown variant `foo`"),
            "{chain}"
        );
    }

    #[test]
    fn unknown_fields_are_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"ociVersion":"1.3.0","root":{"path":"rootfs"},"futureField":{"x":1},
               "annotations":{"org.example.unknown":"v"}}"#,
        )
        .unwrap();
        let spec = load_config(dir.path()).unwrap();
        assert_eq!(spec.version(), "1.3.0");
    }
}
