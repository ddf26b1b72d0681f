//! `--style-from CSV`: which style each solo of a collection is in. The table needs a header
//! line naming a `file` column and a `style` column (any order, other columns ignored, so the
//! WJD's `index.csv` reads as it is); a file is matched by its name without folders. Style
//! names are normalised ([`crate::music::style::normalise`]); an empty style is "any".

use std::collections::HashMap;
use std::path::Path;

use crate::music::style;

/// Largest table read, in bytes (a collection of a million files fits).
const MAX_BYTES: u64 = 64 << 20;

/// File name → normalised style (`None` = "any"), with the line it came from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StyleTable {
    by_file: HashMap<String, (Option<String>, u64)>,
}

impl StyleTable {
    /// Reads a table from `path`; the error names the file, the line and what to fix.
    pub fn read(path: &Path) -> Result<StyleTable, String> {
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("--style-from {shown}: cannot read ({e})"))?;
        if meta.len() > MAX_BYTES {
            return Err(format!(
                "--style-from {shown}: {} bytes is too large for a style table (at most {MAX_BYTES})",
                meta.len()
            ));
        }
        let bytes =
            std::fs::read(path).map_err(|e| format!("--style-from {shown}: cannot read ({e})"))?;
        StyleTable::parse(&bytes).map_err(|e| format!("--style-from {shown}: {e}"))
    }

    /// Reads a table from its bytes (UTF-8 CSV).
    pub fn parse(bytes: &[u8]) -> Result<StyleTable, String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = reader
            .headers()
            .map_err(|e| format!("line 1 (the header): {}", reason(&e)))?
            .clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim_start_matches('\u{feff}').eq_ignore_ascii_case(name))
        };
        let (Some(file_col), Some(style_col)) = (column("file"), column("style")) else {
            return Err(format!(
                "the first line must name the columns `file` and `style` (it names: {})",
                if headers.is_empty() {
                    "nothing".to_string()
                } else {
                    headers.iter().collect::<Vec<_>>().join(", ")
                }
            ));
        };
        let mut by_file: HashMap<String, (Option<String>, u64)> = HashMap::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                format!("line {line}: {}", reason(&e))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let file = record.get(file_col).unwrap_or("");
            let name = Path::new(file)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("")
                .to_string();
            if name.is_empty() {
                if record.iter().all(str::is_empty) {
                    continue;
                }
                return Err(format!("line {line}: no file name in the `file` column"));
            }
            let raw = record.get(style_col).unwrap_or("");
            let style = style::normalise(raw);
            if let Some(s) = &style {
                if s.chars().count() > style::MAX_NAME {
                    return Err(format!(
                        "line {line}: the style of {name} is longer than {} characters",
                        style::MAX_NAME
                    ));
                }
            }
            if let Some((other, first)) = by_file.get(&name) {
                if *other != style {
                    return Err(format!(
                        "line {line}: {name} is `{}` here but `{}` on line {first}",
                        style.as_deref().unwrap_or(style::ANY),
                        other.as_deref().unwrap_or(style::ANY)
                    ));
                }
                continue;
            }
            by_file.insert(name, (style, line));
        }
        if by_file.is_empty() {
            return Err("no file is listed under the header".into());
        }
        Ok(StyleTable { by_file })
    }

    /// Files listed.
    pub fn len(&self) -> usize {
        self.by_file.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_file.is_empty()
    }

    /// Whether the table lists the file at `path` (by its name).
    pub fn lists(&self, path: &Path) -> bool {
        self.entry(path).is_some()
    }

    /// The style of the file at `path` (by its name); `None` when it is unlisted or "any".
    pub fn style_of(&self, path: &Path) -> Option<&str> {
        self.entry(path)?.0.as_deref()
    }

    fn entry(&self, path: &Path) -> Option<&(Option<String>, u64)> {
        let name = path.file_name()?.to_str()?;
        self.by_file.get(name)
    }
}

/// Fewest training solos a style needs to be one of the model's styles: a knob position that
/// stands for one or two solos would promise an idiom and play those solos' habits. Rarer
/// styles train as "any".
pub const MIN_SOLOS: usize = 3;

/// The styles of `paths` in a model's order ([`style::ordered`]), keeping those with at least
/// [`MIN_SOLOS`] solos, and each path's knob position among them (0 = "any").
pub fn assign(table: &StyleTable, paths: &[&Path]) -> (Vec<String>, Vec<usize>) {
    let named: Vec<&str> = paths.iter().filter_map(|p| table.style_of(p)).collect();
    let styles: Vec<String> = style::ordered(named.iter().copied())
        .into_iter()
        .filter(|s| named.iter().filter(|n| **n == s.as_str()).count() >= MIN_SOLOS)
        .collect();
    let of = paths
        .iter()
        .map(|p| {
            table
                .style_of(p)
                .and_then(|s| styles.iter().position(|x| x == s))
                .map_or(0, |k| k + 1)
        })
        .collect();
    (styles, of)
}

fn reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not UTF-8 text (save the table as UTF-8 CSV)".into(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} columns where the header has {expected_len}"),
        csv::ErrorKind::Io(io) => format!("cannot read ({io})"),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wjd_index_columns_by_name() {
        let text = "file,performer,title,style\n\
                    A_One.mid,A,\"One, Two\",HARDBOP\n\
                    B_Two.mid,B,Two,POSTBOP\n\
                    C.mid,C,Three,\n";
        let t = StyleTable::parse(text.as_bytes()).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.style_of(Path::new("x/y/A_One.mid")), Some("hard bop"));
        assert_eq!(t.style_of(Path::new("B_Two.mid")), Some("post-bop"));
        assert_eq!(t.style_of(Path::new("C.mid")), None);
        assert!(t.lists(Path::new("C.mid")));
        assert!(!t.lists(Path::new("D.mid")));
    }

    #[test]
    fn errors_name_the_line() {
        let e = StyleTable::parse(b"name,genre\na.mid,cool\n").unwrap_err();
        assert!(
            e.contains("`file` and `style`") && e.contains("name, genre"),
            "{e}"
        );
        let e = StyleTable::parse(b"file,style\na.mid,cool\nb.mid\n").unwrap_err();
        assert!(e.starts_with("line 3") && e.contains("1 columns"), "{e}");
        let e = StyleTable::parse(b"file,style\na.mid,cool\nd/a.mid,bebop\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("line 2"), "{e}");
        let e = StyleTable::parse(b"file,style\n,cool\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("no file name"), "{e}");
        let e = StyleTable::parse(b"file,style\n").unwrap_err();
        assert!(e.contains("no file"), "{e}");
        let e = StyleTable::parse(b"file,style\na.mid,\xff\n").unwrap_err();
        assert!(e.contains("UTF-8"), "{e}");
    }

    #[test]
    fn assign_orders_and_indexes() {
        let mut text = String::from("style,file\nfree,f.mid\n");
        for k in 0..3 {
            text += &format!("POSTBOP,a{k}.mid\nbebop,b{k}.mid\nfusion,c{k}.mid\n");
        }
        let t = StyleTable::parse(text.as_bytes()).unwrap();
        let paths = [
            Path::new("a0.mid"),
            Path::new("b1.mid"),
            Path::new("c2.mid"),
            Path::new("z.mid"),
            Path::new("f.mid"),
            Path::new("a1.mid"),
            Path::new("a2.mid"),
            Path::new("b0.mid"),
            Path::new("b2.mid"),
            Path::new("c0.mid"),
            Path::new("c1.mid"),
        ];
        let (styles, of) = assign(&t, &paths);
        assert_eq!(
            styles,
            ["bebop", "post-bop", "fusion"],
            "free has one solo: any"
        );
        assert_eq!(of[..5], [2, 1, 3, 0, 0]);
    }
}
