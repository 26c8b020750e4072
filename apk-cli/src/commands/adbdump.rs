//! `apk adbdump FILE...`: the blocks and tree of v3 (ADB) files, as YAML (or
//! `--format json`), as apk-tools 3 prints them; signatures are checked against the
//! root's keys and reported.

use std::path::PathBuf;

use apk_format::adb::dump::{self, Sink};
use apk_format::adb::schema::Scalar;
use apk_format::adb::{decompress, Container};

use crate::context::{self, Context};
use crate::output::serialize::{self, Format, Serializer};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format: yaml (default) or json.
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// The binary's writers as the ADB walk's sink.
struct Writer(Box<dyn Serializer>);

impl Sink for Writer {
    fn start_schema(&mut self, schema: u32) {
        self.0.start_schema(schema);
    }
    fn start_object(&mut self) {
        self.0.start_object();
    }
    fn start_array(&mut self, len: usize) {
        self.0.start_array(Some(len));
    }
    fn end(&mut self) {
        self.0.end();
    }
    fn comment(&mut self, text: &str) {
        self.0.comment(text);
    }
    fn key(&mut self, key: &str) {
        self.0.key(key);
    }
    fn string(&mut self, text: &str, multiline: bool) {
        self.0.string(text, multiline);
    }
    fn number(&mut self, value: u64, scalar: Scalar) {
        match scalar {
            Scalar::Octal => self.0.numeric_octal(value),
            _ => self.0.numeric(value),
        }
    }
}

pub fn run(ctx: &Context, args: Args) -> u32 {
    let format = match args.format.as_deref() {
        None | Some("yaml") | Some("default") => Format::Yaml,
        Some("json") => Format::Json,
        Some(other) => {
            context::error(format!("invalid format '{other}'"));
            return 1;
        }
    };
    let Some(keys) = ctx.keyring_or_report() else {
        return 1;
    };
    for file in &args.files {
        let what = file.display().to_string();
        let result = apk_core::fs::atomic::read(file).and_then(|bytes| {
            let (bytes, _) = decompress(&bytes, &what)?;
            let c = Container::parse(&bytes, &what)?;
            let mut w = Writer(serialize::writer(format, crate::query::STYLE));
            dump::dump(&c, keys.as_ref(), &mut w);
            Ok(w.0.take())
        });
        match result {
            Ok(text) => print!("{text}"),
            Err(e) => {
                context::error(format!("{what}: {}", e.apk_reason()));
                return 1;
            }
        }
    }
    0
}
