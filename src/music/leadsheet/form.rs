//! The form of a written chart — repeats, numbered endings, D.C./D.S., segno, coda, fine —
//! walked into the order its bars are played in, for every lead-sheet reader.
//!
//! Rules (those of the big books and of iReal Pro):
//! - a repeat plays twice, or as often as its `times`, or as its highest ending number says;
//!   a closing repeat with no opening one goes back to the bar after the previous closing
//!   repeat (or to the top);
//! - on pass `p` of `t`, a pass before the last takes its ending as the [`EndingRule`] says and
//!   the last pass takes the last ending (none when there is only a first ending);
//! - D.C. (to the top) or D.S. (to the segno) jumps once, after the bar that carries it; after
//!   it repeats play once with their last ending; "al Fine" stops after the fine bar, "al Coda"
//!   jumps from the to-coda sign to the coda (the last bar with a coda sign; earlier ones are
//!   to-coda signs, taken before or after their bar);
//! - with no D.C. or D.S., a chorus ends before the coda: the coda ends the last chorus, and a
//!   progression that cycles has none;
//! - an end mark stops the chorus after its bar.

use super::LeadSheetError;

/// The most bars one chorus may expand to (the chord-text parser's limit).
pub const MAX_PLAYED_BARS: usize = 4096;

/// Steps the walk may take before it calls the form endless (every step plays or skips a bar).
const STEP_BUDGET: usize = 100_000;

/// Where a D.C. or D.S. goes on to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// "al Coda": from the to-coda sign to the coda.
    Coda,
    /// "al Fine": stop after the fine bar.
    Fine,
    /// Plain D.C./D.S.: to the end.
    End,
}

/// A jump back, after the bar carrying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jump {
    DaCapo(Until),
    DalSegno(Until),
}

impl Jump {
    /// The D.C. or D.S. a text mark (in lower case) writes in words, if any ("D.C. al Coda",
    /// "dal segno al fine", "D.S."), going on to the coda, the fine or the end. Both readers'
    /// marks go through here so they read the same words alike.
    pub(crate) fn in_words(lower: &str) -> Option<Jump> {
        let until = if lower.contains("al coda") {
            Until::Coda
        } else if lower.contains("al fine") {
            Until::Fine
        } else {
            Until::End
        };
        if lower.contains("d.c.") || lower.contains("da capo") {
            Some(Jump::DaCapo(until))
        } else if lower.contains("d.s.") || lower.contains("dal segno") {
            Some(Jump::DalSegno(until))
        } else {
            None
        }
    }
}

/// Which ending a pass before the last takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndingRule {
    /// iReal Pro: pass `p` takes ending `min(p, last - 1)` (N1 N2 played 3 times: N1 N1 N2).
    Capped,
    /// MusicXML: the ending whose numbers list `p` (`<ending number="1, 2">`), else none.
    Listed,
}

/// One bar as written, with its marks. `C` is what the reader keeps per bar (its chords).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WrittenBar {
    /// A repeat opens before this bar.
    pub repeat_open: bool,
    /// A repeat closes after this bar.
    pub repeat_close: bool,
    /// How often the closing repeat plays its section, when written (`3x`, `times="3"`).
    pub times: Option<u32>,
    /// The ending (volta) numbers this bar belongs to; every bar of an ending carries them.
    pub ending: Option<Vec<u32>>,
    pub segno: bool,
    /// A coda sign: the last bar with one starts the coda, earlier ones are to-coda signs.
    pub coda: bool,
    /// The coda sign stands before the bar's first chord (the jump skips this bar).
    pub coda_before: bool,
    /// D.C. or D.S. after this bar.
    pub jump: Option<Jump>,
    /// "Fine" after this bar.
    pub fine: bool,
    /// The chorus ends after this bar.
    pub end: bool,
}

struct Group {
    start: usize,
    times: u32,
    /// The highest ending number in the group (0: no endings).
    last_ending: u32,
}

/// The order the bars of `bars` are played in (indices into `bars`), with notes on what was
/// left out. `song` names the tune in errors.
pub fn expand(
    song: &str,
    bars: &[WrittenBar],
    rule: EndingRule,
) -> Result<(Vec<usize>, Vec<String>), LeadSheetError> {
    let n = bars.len();
    let mut notes = Vec::new();
    if n == 0 {
        return Err(LeadSheetError::new(song, "has no bars"));
    }

    // Repeat groups: each closing repeat, the bar it goes back to and how often it plays.
    let mut groups: Vec<Group> = Vec::new();
    let mut close_group: Vec<Option<usize>> = vec![None; n];
    let mut start_group: Vec<Option<usize>> = vec![None; n];
    let mut last_open: Option<usize> = None;
    let mut after_close = 0;
    for (i, bar) in bars.iter().enumerate() {
        if bar.repeat_open {
            last_open = Some(i);
        }
        if !bar.repeat_close {
            continue;
        }
        // A later ending closing again (N2 in "{… N1 …} N2 …} N3 …") belongs to its group.
        let later_ending = bar
            .ending
            .as_ref()
            .is_some_and(|e| !e.contains(&1) && !e.is_empty());
        if later_ending && last_open.is_none() && !groups.is_empty() {
            close_group[i] = Some(groups.len() - 1);
            if let (Some(t), Some(g)) = (bar.times, groups.last_mut()) {
                g.times = g.times.max(t);
            }
            after_close = i + 1;
            continue;
        }
        let start = last_open.unwrap_or(after_close).min(i);
        groups.push(Group {
            start,
            times: bar.times.unwrap_or(0),
            last_ending: 0,
        });
        close_group[i] = Some(groups.len() - 1);
        if start_group[start].is_none() {
            start_group[start] = Some(groups.len() - 1);
        }
        last_open = None;
        after_close = i + 1;
    }
    for (g, group) in groups.iter_mut().enumerate() {
        let last_close = (0..n)
            .rev()
            .find(|&i| close_group[i] == Some(g))
            .unwrap_or(0);
        let mut j = group.start;
        while j < n && (j <= last_close || bars[j].ending.is_some()) {
            if let Some(e) = &bars[j].ending {
                group.last_ending = group.last_ending.max(e.iter().copied().max().unwrap_or(0));
            }
            j += 1;
            // The next repeat's own endings are not this one's.
            if j > last_close && j < n && bars[j].repeat_open {
                break;
            }
        }
        if group.times == 0 {
            group.times = group.last_ending.max(2);
        }
        group.times = group.times.clamp(1, 64);
    }

    let segno = bars.iter().position(|b| b.segno);
    let coda = bars.iter().rposition(|b| b.coda);
    let to_coda = |i: usize| bars[i].coda && Some(i) != coda;
    let has_jump = bars.iter().any(|b| b.jump.is_some());
    let coda_is_reached = coda.is_some_and(|c| (0..c).any(to_coda));

    let mut played = Vec::new();
    let mut pass = vec![0u32; groups.len()];
    let mut context: Option<usize> = None;
    let mut came_back = false;
    let mut jumped: Option<Until> = None;
    let mut pc = 0;
    let mut steps = 0;
    while pc < n {
        steps += 1;
        if steps > STEP_BUDGET {
            return Err(LeadSheetError::new(
                song,
                "its repeats and jumps never reach the end of the chart",
            ));
        }
        if let Some(g) = start_group[pc] {
            if !came_back {
                pass[g] = 1;
            }
            context = Some(g);
        }
        came_back = false;
        let bar = &bars[pc];

        if !has_jump && coda_is_reached && Some(pc) == coda {
            notes.push(format!(
                "the coda (bar {} on) is left out: with no D.C. or D.S. it ends the last \
                 chorus, and the changes cycle",
                pc + 1
            ));
            break;
        }
        if let (Some(numbers), Some(g)) = (&bar.ending, context) {
            let group = &groups[g];
            let last_pass = jumped.is_some() || pass[g] >= group.times;
            let chosen = if last_pass {
                if group.last_ending >= 2 || rule == EndingRule::Listed {
                    group.last_ending
                } else {
                    0
                }
            } else {
                match rule {
                    EndingRule::Capped => pass[g].min(group.last_ending.saturating_sub(1)).max(1),
                    EndingRule::Listed => pass[g],
                }
            };
            let take = numbers.contains(&chosen)
                || (last_pass && rule == EndingRule::Listed && numbers.contains(&group.times));
            if !take {
                pc += 1;
                continue;
            }
        }
        if jumped == Some(Until::Coda) && to_coda(pc) && bar.coda_before {
            pc = coda.unwrap_or(n);
            continue;
        }

        played.push(pc);
        if played.len() > MAX_PLAYED_BARS {
            return Err(LeadSheetError::new(
                song,
                format!("its form plays more than {MAX_PLAYED_BARS} bars"),
            ));
        }

        if bar.end || (jumped == Some(Until::Fine) && bar.fine) {
            break;
        }
        if jumped == Some(Until::Coda) && to_coda(pc) {
            pc = coda.unwrap_or(n);
            continue;
        }
        if let Some(g) = close_group[pc] {
            if jumped.is_none() && pass[g] < groups[g].times {
                pass[g] += 1;
                context = Some(g);
                pc = groups[g].start;
                came_back = true;
                continue;
            }
        }
        if let (Some(jump), None) = (bar.jump, jumped) {
            let (target, until) = match jump {
                Jump::DaCapo(until) => (0, until),
                Jump::DalSegno(until) => (
                    segno.ok_or_else(|| {
                        LeadSheetError::at_bar(
                            song,
                            pc + 1,
                            "D.S. goes back to the segno, but the chart has no segno (S)",
                        )
                    })?,
                    until,
                ),
            };
            if until == Until::Coda && coda.is_none_or(|c| !(0..c).any(to_coda)) {
                return Err(LeadSheetError::at_bar(
                    song,
                    pc + 1,
                    "\"al Coda\" needs a to-coda sign and a coda (two coda signs), and the chart \
                     has fewer",
                ));
            }
            if until == Until::Fine && !bars.iter().any(|b| b.fine) {
                return Err(LeadSheetError::at_bar(
                    song,
                    pc + 1,
                    "\"al Fine\" needs a Fine, and the chart has none",
                ));
            }
            jumped = Some(until);
            context = None;
            pc = target;
            continue;
        }
        pc += 1;
    }
    if played.is_empty() {
        return Err(LeadSheetError::new(song, "no bar of it is played"));
    }
    Ok((played, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar() -> WrittenBar {
        WrittenBar::default()
    }

    fn walk(bars: &[WrittenBar], rule: EndingRule) -> Vec<usize> {
        expand("test", bars, rule).unwrap().0
    }

    #[test]
    fn a_repeat_plays_twice_and_takes_its_endings() {
        // {0 1 |N1 2 } |N2 3 | 4
        let mut b = vec![bar(), bar(), bar(), bar(), bar()];
        b[0].repeat_open = true;
        b[2].ending = Some(vec![1]);
        b[2].repeat_close = true;
        b[3].ending = Some(vec![2]);
        assert_eq!(walk(&b, EndingRule::Capped), [0, 1, 2, 0, 1, 3, 4]);
        assert_eq!(walk(&b, EndingRule::Listed), [0, 1, 2, 0, 1, 3, 4]);
        b[2].times = Some(3);
        assert_eq!(walk(&b, EndingRule::Capped), [0, 1, 2, 0, 1, 2, 0, 1, 3, 4]);
    }

    #[test]
    fn a_closing_repeat_alone_goes_back_to_the_top_or_the_last_close() {
        let mut b = vec![bar(), bar(), bar(), bar()];
        b[1].repeat_close = true;
        b[3].repeat_close = true;
        assert_eq!(walk(&b, EndingRule::Capped), [0, 1, 0, 1, 2, 3, 2, 3]);
    }

    #[test]
    fn da_capo_al_coda_takes_the_coda_once() {
        // 0 1(to coda) 2 3(D.C. al Coda) 4(coda)
        let mut b = vec![bar(), bar(), bar(), bar(), bar()];
        b[1].coda = true;
        b[3].jump = Some(Jump::DaCapo(Until::Coda));
        b[4].coda = true;
        assert_eq!(walk(&b, EndingRule::Capped), [0, 1, 2, 3, 0, 1, 4]);
        b[1].coda_before = true;
        assert_eq!(walk(&b, EndingRule::Capped), [0, 1, 2, 3, 0, 4]);
    }

    #[test]
    fn dal_segno_al_fine_and_repeats_once_after_the_jump() {
        // 0 {1 2} 3(fine) 4(D.S. al Fine), segno at 1
        let mut b = vec![bar(), bar(), bar(), bar(), bar()];
        b[1].segno = true;
        b[1].repeat_open = true;
        b[2].repeat_close = true;
        b[3].fine = true;
        b[4].jump = Some(Jump::DalSegno(Until::Fine));
        assert_eq!(walk(&b, EndingRule::Capped), [0, 1, 2, 1, 2, 3, 4, 1, 2, 3]);
    }

    #[test]
    fn without_a_jump_the_coda_is_left_out() {
        let mut b = vec![bar(), bar(), bar()];
        b[0].coda = true;
        b[2].coda = true;
        let (order, notes) = expand("t", &b, EndingRule::Capped).unwrap();
        assert_eq!(order, [0, 1]);
        assert!(notes[0].contains("coda"), "{notes:?}");
    }

    #[test]
    fn jumps_without_targets_are_errors() {
        let mut b = vec![bar(), bar()];
        b[1].jump = Some(Jump::DalSegno(Until::End));
        let e = expand("Tune", &b, EndingRule::Capped).unwrap_err();
        assert_eq!(e.bar, Some(2));
        assert!(e.to_string().contains("no segno"), "{e}");
        b[1].jump = Some(Jump::DaCapo(Until::Coda));
        assert!(expand("Tune", &b, EndingRule::Capped).is_err());
    }
}
