//! Log output: human-readable text or one JSON object per line for log
//! shippers. `RUST_LOG` adjusts levels (default `info` for `serve`).

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::{RecordFields, VisitOutput};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber writing to `writer`, logging from
/// `default_level` up unless `RUST_LOG` says otherwise. Fails only when one
/// is already installed.
pub fn init<W>(format: LogFormat, writer: W, default_level: &str) -> Result<(), String>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(default_level)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(OneLinePerRecord(writer))
        .with_target(true);
    TEXT.store(format == LogFormat::Text, Ordering::Relaxed);
    let result = match format {
        LogFormat::Text => builder.fmt_fields(LogfmtFields).with_ansi(false).try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init(),
    };
    result.map_err(|e| e.to_string())
}

/// Events kept out of the default filter. actix-http logs every request
/// it cannot parse at ERROR ("stream error: request parse error"), so any
/// caller could fill the error log, and an operator's alerts, with
/// garbage. The bridge answers those requests itself (a SCIM 400,
/// `http::framework_errors`) and counts them in
/// `scim_bridge_http_requests_refused_total`. That target's other events
/// concern single connections, which the metric and the client's answer
/// cover. An operator's `RUST_LOG` replaces the default filter whole,
/// this directive included.
const QUIET_TARGETS: &str = "actix_http::h1::dispatcher=off";

/// The filter used when `RUST_LOG` is not set: `default_level` for every
/// target but [`QUIET_TARGETS`].
pub fn default_filter(default_level: &str) -> String {
    format!("{default_level},{QUIET_TARGETS}")
}

/// Whether logs go out as text for people (set by `init`).
static TEXT: AtomicBool = AtomicBool::new(false);

/// Longest Drupal path shown in the text format.
const SHOWN_PATH_CHARS: usize = 160;

/// A Drupal path as a log shows it: in the text format decoded
/// (`filter[g0][group]` rather than `filter%5Bg0%5D%5Bgroup%5D`) and cut
/// to a readable length; in JSON whole, as sent, for machines.
///
/// Log it as text (`path = &*shown_path(path)`): [`LogfmtFields`] quotes
/// every text value, and decoding brings back what a client put in a
/// filter value (a userName), spaces, `=` and quotes, which written bare
/// would read as fields of the bridge's own (`outcome="ok" status=201`).
pub fn shown_path(path: &str) -> Cow<'_, str> {
    if TEXT.load(Ordering::Relaxed) {
        Cow::Owned(readable(path, SHOWN_PATH_CHARS))
    } else {
        Cow::Borrowed(path)
    }
}

/// How the text format writes the fields of an event or a span: as
/// `tracing_subscriber`'s default does (the message first, as it is, then
/// `key=value`), except that a value is written between double quotes, its
/// quotes and backslashes escaped, when it is text (a `&str` field, as
/// `client="default"` always was) or when, written as `%` Display or `?`
/// Debug, it is empty or holds whitespace, `=`, `"`, `\` or a character
/// [`crate::untrusted::is_invisible`] names. So a parser of `key=value`
/// lines (logfmt) reads exactly the fields the bridge wrote, whatever a
/// client put in their values: `member="x problem=ok"` is one field, not
/// two. The writer ([`OneLinePerRecord`]) then escapes control characters
/// as `\n` or `\uXXXX`, escapes such a parser also reads inside quotes.
///
/// One place for every field, so that no call site can forget a value a
/// client chose; JSON (`--log-format json`) has its own quoting.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogfmtFields;

impl<'writer> FormatFields<'writer> for LogfmtFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = LogfmtVisitor {
            writer,
            is_empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

/// Writes fields for [`LogfmtFields`].
struct LogfmtVisitor<'writer> {
    writer: Writer<'writer>,
    /// Nothing written yet: no space before the next field.
    is_empty: bool,
    result: fmt::Result,
}

impl LogfmtVisitor<'_> {
    fn field(&mut self, name: &str, value: &str, text: bool) {
        if self.result.is_err() {
            return;
        }
        let space = if self.is_empty { "" } else { " " };
        self.is_empty = false;
        let name = name.strip_prefix("r#").unwrap_or(name);
        self.result = match text || needs_quotes(value) {
            true => write!(self.writer, "{space}{name}={}", quoted(value)),
            false => write!(self.writer, "{space}{name}={value}"),
        };
    }
}

impl Visit for LogfmtVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.record_debug(field, &format_args!("{value}")),
            name => self.field(name, value, true),
        }
    }

    /// The error, then its sources, each after `: `.
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let mut text = value.to_string();
        let mut source = value.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        self.field(field.name(), &text, false);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        match field.name() {
            // The message as the default formatter writes it (ANSI
            // escapes shown, not obeyed): the bridge's own words.
            "message" => {
                let mut default = DefaultVisitor::new(self.writer.by_ref(), self.is_empty);
                default.record_debug(field, value);
                self.is_empty = false;
                self.result = default.finish();
            }
            // Metadata of `log` records, shown by the formatter already.
            name if name.starts_with("log.") => {}
            name => self.field(name, &format!("{value:?}"), false),
        }
    }
}

/// Whether a value must be quoted to read as one logfmt value.
fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value.chars().any(|c| {
            c.is_whitespace() || matches!(c, '=' | '"' | '\\') || crate::untrusted::is_invisible(c)
        })
}

/// `text` between double quotes, its quotes and backslashes escaped (the
/// rest is left to `untrusted::escape_line`, which the writer applies).
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn readable(path: &str, limit: usize) -> String {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let total = decoded.chars().count();
    if total <= limit {
        return decoded.into_owned();
    }
    let kept: String = decoded.chars().take(limit).collect();
    format!("{kept}… ({} more characters)", total - limit)
}

/// Writes each formatted record with what a client may have put in its
/// fields escaped (`untrusted::escape_line`): a value holding a newline,
/// NUL, DEL or a bidirectional control cannot forge or disguise a line, in
/// the text format or the JSON one. The formatter writes a record in one
/// call, so each call is one record.
pub struct OneLinePerRecord<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLinePerRecord<M> {
    type Writer = EscapedRecord<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapedRecord(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        EscapedRecord(self.0.make_writer_for(meta))
    }
}

/// One record on its way to the log, see [`OneLinePerRecord`].
pub struct EscapedRecord<W>(W);

impl<W: Write> Write for EscapedRecord<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0
            .write_all(crate::untrusted::escape_line(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Standard error, for the binary.
pub fn stderr() -> fn() -> std::io::Stderr {
    std::io::stderr
}

/// A writer that appends to a shared buffer, for tests that read the logs.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl CapturedLogs {
    pub fn contents(&self) -> String {
        self.0
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_codecs_parse_errors_are_kept_out_of_the_default_log() {
        let filter = default_filter("info");
        assert!(filter.starts_with("info,"), "{filter}");
        assert!(
            filter
                .split(',')
                .any(|d| d == "actix_http::h1::dispatcher=off"),
            "{filter}"
        );
        // A valid filter, whatever the level.
        for level in ["info", "off", "debug"] {
            assert!(EnvFilter::try_new(default_filter(level)).is_ok(), "{level}");
        }
    }

    #[test]
    fn a_drupal_path_is_decoded_and_cut_for_people() {
        let path = "/jsonapi/user/user?filter%5Bg0%5D%5Bgroup%5D%5Bconjunction%5D=AND";
        assert_eq!(
            readable(path, 200),
            "/jsonapi/user/user?filter[g0][group][conjunction]=AND"
        );
        let cut = readable(path, 20);
        assert_eq!(cut, "/jsonapi/user/user?f… (33 more characters)");
    }

    /// What the text format writes for the events `log` sends.
    fn text_lines(log: impl FnOnce()) -> String {
        let logs = CapturedLogs::default();
        let subscriber = tracing_subscriber::fmt()
            .fmt_fields(LogfmtFields)
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_writer(OneLinePerRecord(logs.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        logs.contents()
    }

    #[test]
    fn a_text_field_value_that_would_read_as_more_is_quoted() {
        let line = text_lines(|| {
            tracing::warn!(
                member = %"x problem=ok action=remove",
                plain = %"Sales",
                empty = %"",
                slash = %r#"a"b\c"#,
                esc = %"a\u{1b}b",
                tab = ?"t\tu",
                count = 3,
                ratio = 2.5,
                text = "default",
                "a membership change cannot be made; nothing was written"
            )
        });
        assert_eq!(
            line,
            concat!(
                " WARN a membership change cannot be made; nothing was written",
                r#" member="x problem=ok action=remove" plain=Sales empty="""#,
                r#" slash="a\"b\\c" esc="a\u001bb" tab="\"t\\tu\"""#,
                r#" count=3 ratio=2.5 text="default""#,
                "\n"
            )
        );
    }

    #[test]
    fn the_message_is_written_as_it_always_was() {
        let line =
            text_lines(|| tracing::info!(group = %"Ops", "group {} \u{1b}[31m made", "x y=z"));
        assert_eq!(line, " INFO group x y=z \\x1b[31m made group=Ops\n");
    }

    #[test]
    fn a_value_in_a_drupal_path_cannot_pass_for_fields_of_the_text_log() {
        let forged = r#"q outcome="ok" user="admin" status=201 \"#;
        let path = format!(
            "/jsonapi/user/user?filter%5Bname%5D%5Bvalue%5D={}&page%5Blimit%5D=2",
            forged.replace(' ', "%20").replace('"', "%22")
        );
        let shown = quoted(&readable(&path, 200));
        assert_eq!(
            shown,
            r#""/jsonapi/user/user?filter[name][value]=q outcome=\"ok\" user=\"admin\" status=201 \\&page[limit]=2""#
        );
        // Within the quotes, every quote is escaped: the value ends where
        // the path does.
        let inner = &shown[1..shown.len() - 1];
        let mut escaped = false;
        for c in inner.chars() {
            assert!(escaped || c != '"', "{shown}");
            escaped = !escaped && c == '\\';
        }
    }
}
