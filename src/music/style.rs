//! Styles of jazz as a chord-aware model hears them (layout `jazz-synth/cond-2`): the names a
//! collection's list gives are normalised to one spelling, and a model records the styles it
//! learned, in order, so a knob can offer exactly those. "any" (index 0) is no style at all.

/// The styles the WJD names, oldest first: the order a model's list starts with.
pub const NAMED: [&str; 6] = [
    "traditional",
    "swing",
    "bebop",
    "cool",
    "hard bop",
    "post-bop",
];

/// The name of "no style given" (index 0 of a style knob).
pub const ANY: &str = "any";

/// Most styles a model can record (the engine's conditioning buffer is sized for them).
pub const MAX_STYLES: usize = 32;

/// Longest style name, in characters.
pub const MAX_NAME: usize = 40;

/// The one spelling of a style name: `HARDBOP`, `Hard-Bop` and `hard bop` are `hard bop`,
/// `POSTBOP` is `post-bop`, `trad` and `dixieland` are `traditional`, `bop` is `bebop`; any
/// other name is kept as its own style, lower case with single spaces. `None` for no style
/// (empty, `any`, `none`, `-`, `n/a`).
pub fn normalise(name: &str) -> Option<String> {
    let words: Vec<String> = name
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let squeezed: String = words.concat();
    let named = match squeezed.as_str() {
        "" | "any" | "none" | "na" | "n/a" | "unknown" => return None,
        "traditional" | "trad" | "dixieland" | "neworleans" => "traditional",
        "swing" => "swing",
        "bebop" | "bop" => "bebop",
        "cool" | "cooljazz" | "westcoast" => "cool",
        "hardbop" => "hard bop",
        "postbop" => "post-bop",
        _ => return Some(words.join(" ")),
    };
    Some(named.to_string())
}

/// The styles of a collection in a model's order: the [`NAMED`] ones oldest first, then the
/// others alphabetically; each once.
pub fn ordered<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut others: Vec<String> = Vec::new();
    let mut named = [false; NAMED.len()];
    for name in names {
        match NAMED.iter().position(|n| *n == name) {
            Some(k) => named[k] = true,
            None => {
                if !others.iter().any(|o| o == name) {
                    others.push(name.to_string());
                }
            }
        }
    }
    others.sort();
    NAMED
        .iter()
        .zip(named)
        .filter(|(_, seen)| *seen)
        .map(|(n, _)| n.to_string())
        .chain(others)
        .collect()
}

/// The knob position of `name` among a model's `styles`: 0 for "any", `k + 1` for
/// `styles[k]`. Names are normalised first, so `--style hardbop` finds `hard bop`. The error
/// lists the styles the model knows.
pub fn find(styles: &[String], name: &str) -> Result<usize, String> {
    let Some(wanted) = normalise(name) else {
        return Ok(0);
    };
    match styles.iter().position(|s| *s == wanted) {
        Some(k) => Ok(k + 1),
        None if styles.is_empty() => Err(format!(
            "style `{name}`: this model learned no styles, so it plays only `any` (train one \
             with jazz-train --preset jazz --style-from CSV)"
        )),
        None => Err(format!(
            "style `{name}`: this model knows {}",
            choices(styles)
        )),
    }
}

/// "any, traditional, swing, ..." for messages.
pub fn choices(styles: &[String]) -> String {
    std::iter::once(ANY)
        .chain(styles.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name of knob position `k` (0 = "any"; past the list, "any" too).
pub fn name_at(styles: &[String], k: usize) -> &str {
    k.checked_sub(1)
        .and_then(|i| styles.get(i))
        .map_or(ANY, String::as_str)
}

/// Checks a model's recorded list: 1 to [`MAX_STYLES`] distinct names, each already
/// normalised and at most [`MAX_NAME`] characters.
pub fn check_list(styles: &[String]) -> Result<(), String> {
    if styles.is_empty() || styles.len() > MAX_STYLES {
        return Err(format!(
            "{} styles listed; a model records 1 to {MAX_STYLES}",
            styles.len()
        ));
    }
    for (k, s) in styles.iter().enumerate() {
        if s.chars().count() > MAX_NAME || normalise(s).as_deref() != Some(s.as_str()) {
            return Err(format!(
                "style {} `{}` is not a style name (lower case words, at most {MAX_NAME} \
                 characters, not `any`)",
                k + 1,
                s.chars().take(60).collect::<String>()
            ));
        }
        if styles[..k].contains(s) {
            return Err(format!("style `{s}` is listed twice"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wjd_spellings_become_the_six_names() {
        let wjd = [
            "TRADITIONAL",
            "SWING",
            "BEBOP",
            "COOL",
            "HARDBOP",
            "POSTBOP",
        ];
        let got: Vec<String> = wjd.iter().filter_map(|s| normalise(s)).collect();
        assert_eq!(got, NAMED);
        assert_eq!(normalise("Hard-Bop").as_deref(), Some("hard bop"));
        assert_eq!(normalise(" post bop ").as_deref(), Some("post-bop"));
        assert_eq!(normalise("FUSION").as_deref(), Some("fusion"));
        assert_eq!(normalise("Latin  Jazz").as_deref(), Some("latin jazz"));
        assert_eq!(normalise(""), None);
        assert_eq!(normalise("ANY"), None);
    }

    #[test]
    fn order_is_oldest_first_then_alphabetical() {
        let got = ordered(["post-bop", "fusion", "bebop", "free", "bebop"]);
        assert_eq!(got, ["bebop", "post-bop", "free", "fusion"]);
    }

    #[test]
    fn find_names_the_choices() {
        let styles = ordered(["bebop", "cool"]);
        assert_eq!(find(&styles, "any"), Ok(0));
        assert_eq!(find(&styles, "COOL"), Ok(2));
        let e = find(&styles, "swing").unwrap_err();
        assert!(e.contains("any, bebop, cool"), "{e}");
        assert!(find(&[], "bebop").unwrap_err().contains("no styles"));
        assert_eq!(name_at(&styles, 0), "any");
        assert_eq!(name_at(&styles, 1), "bebop");
        assert_eq!(name_at(&styles, 9), "any");
    }

    #[test]
    fn recorded_lists_are_checked() {
        assert!(check_list(&ordered(["bebop", "cool"])).is_ok());
        assert!(check_list(&[]).is_err());
        assert!(check_list(&["Bebop".into()]).is_err());
        assert!(check_list(&["any".into()]).is_err());
        assert!(check_list(&["cool".into(), "cool".into()]).is_err());
    }
}
