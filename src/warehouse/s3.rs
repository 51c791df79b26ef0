//! `s3://bucket/prefix` warehouses (feature `s3`): AWS S3, MinIO, Ceph and other S3-compatible
//! servers, configured from the usual environment (`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP`, …) plus govmedia's retry settings.
//! Requests are path-style (`endpoint/bucket/key`, what MinIO-like servers expect) unless
//! `AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true`.

use super::{Result, WarehouseError};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::path::Path as StorePath;
use object_store::{ClientConfigKey, ObjectStore, RetryConfig};
use std::sync::Arc;
use url::Url;

/// Retries of a failed request (object_store's `max_retries`; 0 turns retrying off).
pub const RETRIES_VAR: &str = "GOVMEDIA_S3_RETRIES";
/// Seconds one request may take before it counts as failed (and is retried).
pub const TIMEOUT_VAR: &str = "GOVMEDIA_S3_TIMEOUT";

/// The store and the prefix under which the warehouse lives.
pub(super) fn open(url: &Url) -> Result<(Arc<dyn ObjectStore>, StorePath)> {
    let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| {
        WarehouseError::Other(format!("cannot open warehouse {url}: an s3:// warehouse names its bucket (s3://BUCKET/PREFIX)"))
    })?;
    // Everything AWS_* that object_store knows; the URL's bucket wins over AWS_BUCKET.
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    check_endpoint(&builder)?;
    let mut retry = RetryConfig::default();
    if let Some(n) = env_number(RETRIES_VAR)? {
        if n.fract() != 0.0 {
            return Err(bad_setting(RETRIES_VAR, &n.to_string(), "a whole number of retries"));
        }
        retry.max_retries = n as usize;
    }
    if let Some(secs) = env_number(TIMEOUT_VAR)? {
        if secs <= 0.0 {
            return Err(bad_setting(TIMEOUT_VAR, &secs.to_string(), "a time-out in seconds above 0"));
        }
        let ms = (secs * 1000.0).ceil() as u64;
        builder = builder.with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), format!("{ms}ms"));
    }
    // The manifest swap and the write lock are conditional puts (If-Match / If-None-Match);
    // whether the server really honours them is probed before the first write (lock.rs).
    let builder = builder.with_retry(retry).with_conditional_put(S3ConditionalPut::ETagMatch);
    let store = builder.build().map_err(|e| WarehouseError::Other(format!("cannot open warehouse {url}: {e}")))?;
    let prefix = StorePath::from(url.path().trim_matches('/'));
    Ok((Arc::new(store), prefix))
}

fn bad_setting(var: &str, value: &str, want: &str) -> WarehouseError {
    WarehouseError::Other(format!("{var}={value} is not {want}"))
}

fn env_number(var: &str) -> Result<Option<f64>> {
    match std::env::var(var) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
            _ => Err(bad_setting(var, &v, "a number")),
        },
        Err(_) => Ok(None),
    }
}

/// Plain HTTP only to this machine (a test server): anywhere else the keys' signatures and the
/// data would cross the network in the clear. An `http://` endpoint without `AWS_ALLOW_HTTP`
/// is reported here rather than as a client error at the first request.
fn check_endpoint(builder: &AmazonS3Builder) -> Result<()> {
    let Some(endpoint) = builder.get_config_value(&AmazonS3ConfigKey::Endpoint) else {
        return Ok(());
    };
    let parsed = Url::parse(&endpoint).map_err(|e| WarehouseError::Other(format!("AWS_ENDPOINT_URL={endpoint} is not a URL: {e}")))?;
    if parsed.scheme() != "http" {
        return Ok(());
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !loopback {
        return Err(WarehouseError::Other(format!(
            "refused: AWS_ENDPOINT_URL={endpoint} is plain http to another machine; the requests and the data would \
             cross the network unencrypted. Use https (plain http is allowed only to a loopback address, for a local test server)"
        )));
    }
    let allowed = builder.get_config_value(&AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp));
    if !allowed.is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(WarehouseError::Other(format!(
            "AWS_ENDPOINT_URL={endpoint} is plain http: set AWS_ALLOW_HTTP=true to use this local server (allowed for loopback addresses only)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(endpoint: &str, allow: bool) -> AmazonS3Builder {
        AmazonS3Builder::new().with_endpoint(endpoint).with_allow_http(allow)
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        assert!(check_endpoint(&builder("http://127.0.0.1:9000", true)).is_ok());
        assert!(check_endpoint(&builder("http://localhost:9000", true)).is_ok());
        assert!(check_endpoint(&builder("http://[::1]:9000", true)).is_ok());
        assert!(check_endpoint(&builder("https://minio.example.org", false)).is_ok());
        let far = check_endpoint(&builder("http://10.0.0.5:9000", true)).unwrap_err().to_string();
        assert!(far.contains("refused") && far.contains("10.0.0.5"), "{far}");
        let unset = check_endpoint(&builder("http://127.0.0.1:9000", false)).unwrap_err().to_string();
        assert!(unset.contains("AWS_ALLOW_HTTP=true"), "{unset}");
    }
}
