//! Structured JSON logs through `tracing`. Log fields carry ids, codes and counts only: the types
//! that hold personal data or keys print nothing useful through `Debug`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

fn filter() -> EnvFilter {
    // The SDK's own debug logs can include request bodies; they stay off unless asked for.
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,aws_config=warn,aws_smithy_runtime=warn,hyper=warn"))
}

/// JSON logs to stdout, as CloudWatch expects from Lambda.
pub fn init() {
    let _ = tracing_subscriber::fmt().json().flatten_event(true).with_current_span(true).with_env_filter(filter()).try_init();
}

/// JSON logs to any writer (tests capture them to look for leaks).
pub fn init_with_writer<W>(writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_env_filter(filter())
        .with_writer(writer)
        .try_init();
}
