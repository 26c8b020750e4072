//! Structured output as apk-tools 3 writes it: its `default` query layout
//! (`Name: value` blocks), JSON and YAML. The writers are driven by the same calls
//! (objects, arrays, keys, scalars), so every applet that serialises gets all three.

/// `--format`: which writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The applet's own layout (for the query applets: `Name: value` blocks).
    #[default]
    Default,
    Json,
    Yaml,
}

impl Format {
    /// `default`, `json` or `yaml`.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "default" => Some(Format::Default),
            "json" => Some(Format::Json),
            "yaml" => Some(Format::Yaml),
            _ => None,
        }
    }
}

/// The calls a writer takes.
pub trait Serializer {
    fn start_object(&mut self);
    /// `len`: the number of items when known in advance.
    fn start_array(&mut self, len: Option<usize>);
    fn end(&mut self);
    fn key(&mut self, key: &str);
    fn string(&mut self, value: &str, multiline: bool);
    fn numeric(&mut self, value: u64);
    /// A number that text formats write in octal (modes); JSON in decimal.
    fn numeric_octal(&mut self, value: u64) {
        self.numeric(value);
    }
    /// An object that is a database of `schema` (`#%SCHEMA: ...` in YAML).
    fn start_schema(&mut self, _schema: u32) {
        self.start_object();
    }
    /// A comment line, where the format has them (YAML).
    fn comment(&mut self, _text: &str) {}
    /// Everything written so far.
    fn take(&mut self) -> String;
}

/// How the default layout names and places keys.
#[derive(Clone, Copy)]
pub struct KeyStyle {
    /// The printed name of a key (`installed-size` -> `Installed-Size`).
    pub printable: fn(&str) -> &str,
    /// Keys whose arrays get one item per line under the key.
    pub multiline: fn(&str) -> bool,
}

/// A writer for `format`.
pub fn writer(format: Format, style: KeyStyle) -> Box<dyn Serializer> {
    match format {
        Format::Default => Box::new(QueryWriter::new(style)),
        Format::Json => Box::<JsonWriter>::default(),
        Format::Yaml => Box::<YamlWriter>::default(),
    }
}

const MAX_NESTING: usize = 32;

#[derive(Clone, Copy, PartialEq, Eq)]
enum QState {
    New,
    Key,
    Scalar,
}

const F_INDENT: u8 = 2;
const F_SPACE: u8 = 4;

/// apk-tools' default query layout: objects as blocks of `Key: value` lines separated
/// by blank lines, arrays on one line (wrapped after 80 columns) or, for contents and
/// repositories, one item per line.
struct QueryWriter {
    out: String,
    nest: usize,
    indent: usize,
    x: usize,
    state: QState,
    multiline_value: bool,
    first_seen: bool,
    flags: [u8; MAX_NESTING + 1],
    style: KeyStyle,
}

impl QueryWriter {
    fn new(style: KeyStyle) -> Self {
        QueryWriter {
            out: String::new(),
            nest: 0,
            indent: 0,
            x: 0,
            state: QState::New,
            multiline_value: false,
            first_seen: false,
            flags: [0; MAX_NESTING + 1],
            style,
        }
    }

    fn write(&mut self, s: &str) {
        self.out.push_str(s);
        self.x += s.len();
    }

    fn start_indent(&mut self, flags: u8) {
        if self.nest == 1 {
            if self.first_seen {
                self.write("\n");
                self.x = 0;
            }
            self.first_seen = true;
        }
        if flags & F_INDENT != 0 {
            self.indent += 1;
        }
        self.nest = (self.nest + 1).min(MAX_NESTING);
        self.flags[self.nest] = flags;
        self.multiline_value = false;
    }

    fn item(&mut self) {
        match self.state {
            QState::Key => self.out.push(' '),
            QState::Scalar => {
                if self.flags[self.nest] & F_SPACE != 0 {
                    if self.x < 80 {
                        self.write(" ");
                    } else {
                        self.write("\n  ");
                        self.x = 2;
                    }
                } else {
                    self.write("\n");
                    self.x = 0;
                }
            }
            QState::New => {}
        }
    }
}

impl Serializer for QueryWriter {
    fn start_object(&mut self) {
        self.start_indent(0);
    }

    fn start_array(&mut self, _len: Option<usize>) {
        let flags = if self.multiline_value {
            F_INDENT
        } else if self.state == QState::Key {
            F_SPACE
        } else {
            0
        };
        self.start_indent(flags);
    }

    fn end(&mut self) {
        let flags = self.flags[self.nest];
        self.nest = self.nest.saturating_sub(1);
        if flags & F_INDENT != 0 {
            self.indent = self.indent.saturating_sub(1);
        }
        if flags & F_SPACE != 0 || self.state != QState::New {
            self.out.push('\n');
            self.x = 0;
            self.state = QState::New;
        }
        self.multiline_value = false;
    }

    fn key(&mut self, key: &str) {
        self.item();
        let name = (self.style.printable)(key);
        self.write(name);
        self.write(":");
        self.state = QState::Key;
        self.multiline_value = (self.style.multiline)(key);
        if self.multiline_value {
            self.write("\n");
            self.state = QState::New;
            self.x = 0;
        }
    }

    fn string(&mut self, value: &str, multiline: bool) {
        if multiline {
            if self.state == QState::Key {
                self.out.push('\n');
            }
            for line in value.split('\n').filter(|l| !l.is_empty()) {
                self.write("  ");
                self.write(line);
                self.write("\n");
            }
            self.state = QState::New;
            self.x = 0;
        } else {
            self.item();
            let pad = "  ".repeat(self.indent.min(16));
            self.write(&pad);
            self.write(value);
            self.state = QState::Scalar;
        }
    }

    fn numeric(&mut self, value: u64) {
        self.item();
        self.write(&value.to_string());
        self.state = QState::Scalar;
    }

    fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

/// JSON, two-space indented, as apk-tools writes it.
#[derive(Default)]
struct JsonWriter {
    out: String,
    nest: usize,
    key_printed: bool,
    need_separator: bool,
    need_newline: bool,
    ends: Vec<char>,
}

impl JsonWriter {
    fn indent(&mut self, item: bool) {
        if self.key_printed {
            self.out.push(' ');
        } else {
            if item && self.need_separator {
                self.out.push(',');
            }
            if self.need_newline {
                self.out.push('\n');
                for _ in 0..self.nest.min(16) {
                    self.out.push_str("  ");
                }
            } else {
                self.out.push(' ');
            }
        }
        self.key_printed = false;
    }

    fn open(&mut self, start: char, end: char) {
        if self.nest > 0 {
            self.indent(true);
        }
        self.out.push(start);
        self.ends.push(end);
        self.nest += 1;
        self.need_separator = false;
        self.need_newline = true;
    }
}

impl Serializer for JsonWriter {
    fn start_object(&mut self) {
        self.open('{', '}');
    }

    fn start_array(&mut self, _len: Option<usize>) {
        self.open('[', ']');
    }

    fn end(&mut self) {
        self.need_newline = true;
        self.nest = self.nest.saturating_sub(1);
        self.indent(false);
        if let Some(c) = self.ends.pop() {
            self.out.push(c);
        }
        self.need_separator = true;
        self.need_newline = false;
        if self.nest == 0 {
            self.out.push('\n');
        }
    }

    fn key(&mut self, key: &str) {
        self.need_newline = true;
        self.indent(true);
        self.out.push('"');
        self.out.push_str(key);
        self.out.push_str("\":");
        self.key_printed = true;
        self.need_separator = true;
    }

    fn string(&mut self, value: &str, _multiline: bool) {
        self.need_newline = true;
        self.indent(true);
        self.out.push('"');
        for c in value.chars() {
            match c {
                '"' => self.out.push_str("\\\""),
                '\n' => self.out.push_str("\\n"),
                '\t' => self.out.push_str("\\t"),
                '\\' => self.out.push_str("\\\\"),
                c => self.out.push(c),
            }
        }
        self.out.push('"');
        self.need_separator = true;
    }

    fn numeric(&mut self, value: u64) {
        self.need_newline = true;
        self.indent(true);
        self.out.push_str(&value.to_string());
        self.need_separator = true;
    }

    fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}

/// YAML as apk-tools writes it: `# N items` comments on arrays, single quotes or
/// block scalars where a plain one would not read back.
#[derive(Default)]
struct YamlWriter {
    out: String,
    nest: usize,
    indent: usize,
    line_started: bool,
    key_printed: bool,
    /// Whether each open level is an array.
    arrays: Vec<bool>,
}

enum Quote {
    None,
    Single,
    Block,
}

fn yaml_quoting(s: &str, multiline: bool) -> Quote {
    if s.is_empty() {
        return Quote::None;
    }
    if s.len() >= 80 || multiline {
        return Quote::Block;
    }
    let mut style = Quote::None;
    let first = s.as_bytes()[0];
    if b"-?:,[]{}#&*!|>'\"%@`".contains(&first) {
        style = Quote::Single;
    }
    let mut prev = 0u8;
    for &c in s.as_bytes() {
        match c {
            b'\r' | b'\n' | b'\'' => return Quote::Block,
            b' ' if prev == b':' => style = Quote::Single,
            b'#' => {
                if prev == b' ' {
                    return Quote::Block;
                }
                style = Quote::Single;
            }
            _ => {}
        }
        prev = c;
    }
    style
}

impl YamlWriter {
    fn in_array(&self) -> bool {
        self.arrays.last().copied().unwrap_or(false)
    }

    fn indent(&mut self, item: bool, continue_line: bool) {
        if !self.line_started {
            for _ in 0..self.indent.min(16) {
                self.out.push_str("  ");
            }
            if item && self.in_array() {
                self.out.push_str("- ");
            }
        } else if self.key_printed && continue_line {
            self.out.push(' ');
        }
        self.line_started = true;
    }

    fn start_indent(&mut self, array: bool) {
        if self.nest > 0 {
            self.indent += 1;
        }
        self.nest += 1;
        self.arrays.push(array);
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.line_started = false;
        self.key_printed = false;
    }
}

impl Serializer for YamlWriter {
    fn start_object(&mut self) {
        self.indent(true, false);
        self.start_indent(false);
    }

    fn start_array(&mut self, len: Option<usize>) {
        if let Some(n) = len {
            self.indent(true, true);
            self.out.push_str(&format!("# {n} items"));
        }
        self.newline();
        self.start_indent(true);
    }

    fn end(&mut self) {
        if self.line_started {
            self.indent(false, true);
            self.out.push_str("# empty object");
            self.newline();
        }
        self.nest = self.nest.saturating_sub(1);
        self.arrays.pop();
        if self.nest > 0 {
            self.indent = self.indent.saturating_sub(1);
        }
    }

    fn key(&mut self, key: &str) {
        if self.key_printed {
            self.newline();
        }
        self.indent(true, true);
        self.out.push_str(key);
        self.out.push(':');
        self.key_printed = true;
    }

    fn string(&mut self, value: &str, multiline: bool) {
        self.indent(true, true);
        match yaml_quoting(value, multiline) {
            Quote::None => {
                self.out.push_str(value);
                self.newline();
            }
            Quote::Single => {
                self.out.push('\'');
                self.out.push_str(value);
                self.out.push('\'');
                self.newline();
            }
            Quote::Block => {
                self.out.push('|');
                self.newline();
                self.indent += 1;
                for line in value.split('\n').filter(|l| !l.is_empty()) {
                    self.indent(false, true);
                    self.out.push_str(line);
                    self.newline();
                }
                self.indent -= 1;
            }
        }
    }

    fn numeric(&mut self, value: u64) {
        self.indent(true, true);
        self.out.push_str(&value.to_string());
        self.newline();
    }

    fn numeric_octal(&mut self, value: u64) {
        self.indent(true, true);
        if value == 0 {
            self.out.push('0');
        } else {
            self.out.push_str(&format!("0{value:o}"));
        }
        self.newline();
    }

    fn start_schema(&mut self, schema: u32) {
        self.start_object();
        self.out.push_str(&format!("#%SCHEMA: {schema:08X}"));
        self.newline();
    }

    fn comment(&mut self, text: &str) {
        self.indent(false, true);
        self.out.push_str("# ");
        self.out.push_str(text);
        self.newline();
    }

    fn take(&mut self) -> String {
        std::mem::take(&mut self.out)
    }
}
