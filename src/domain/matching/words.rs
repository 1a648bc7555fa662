//! A fund's rule in plain words, as the public fund page and the open data say it
//! ("£1 for every £1 pledged, up to £250 per investor and £5,000 per offer, once 25% of the
//! target is pledged by at least 10 investors; matched as pledges arrive"). Pure.

use super::{Rule, RuleKind, Timing, TriggerKind};

/// Whole pounds without pence (`£1,250`), else pounds and pence (`£12.50`); under £1, pence (`50p`).
pub fn money(pence: i64) -> String {
    if (1..100).contains(&pence) {
        return format!("{pence}p");
    }
    let text = crate::domain::money::Pence::new(pence).to_string();
    text.strip_suffix(".00").map(str::to_owned).unwrap_or(text)
}

/// The ratio `num / den` as money for every pound: `£1 for every £1`, `50p for every £1`,
/// `£2 for every £3`.
fn ratio(num: i64, den: i64) -> String {
    if den != 0 && (num * 100) % den == 0 {
        format!("{} for every £1", money(num * 100 / den))
    } else {
        format!("£{num} for every £{den}")
    }
}

impl Rule {
    /// The rule in plain English.
    pub fn in_words(&self) -> String {
        let mut text = match self.kind {
            RuleKind::PerPledge => format!(
                "{} pledged",
                ratio(self.ratio_num.unwrap_or(1), self.ratio_den.unwrap_or(1))
            ),
            RuleKind::LumpSum => format!(
                "a lump sum of {}",
                money(self.lump_sum_pence.map(|p| p.get()).unwrap_or(0))
            ),
        };
        let offer_cap = money(self.per_offer_cap_pence.get());
        match self.per_pledge_cap_pence {
            Some(cap) => text.push_str(&format!(
                ", up to {} per investor and {offer_cap} per offer",
                money(cap.get())
            )),
            None => text.push_str(&format!(", up to {offer_cap} per offer")),
        }
        text.push_str(&self.trigger_words());
        if !self.eligibility.postcode_prefixes.is_empty() {
            text.push_str(&format!(
                ", for investors in {}",
                self.eligibility.postcode_prefixes.join(", ")
            ));
        }
        if self.exclusive {
            text.push_str("; no other fund may match the same offer");
        }
        text.push_str(match self.timing {
            Timing::Live => "; matched as pledges arrive",
            Timing::AtClose => "; decided when the offer closes",
        });
        text
    }

    fn trigger_words(&self) -> String {
        let by = match self.trigger.min_investors {
            Some(n) if n > 1 => format!(" by at least {n} investors"),
            _ => String::new(),
        };
        let value = self.trigger.value.unwrap_or(0);
        match self.trigger.kind {
            TriggerKind::None if by.is_empty() => String::new(),
            TriggerKind::None => format!(", once pledged{by}"),
            TriggerKind::Amount => format!(", once {} is pledged{by}", money(value)),
            TriggerKind::PercentOfTarget => {
                let percent = if value % 100 == 0 {
                    format!("{}%", value / 100)
                } else {
                    format!("{}.{:02}%", value / 100, value % 100)
                };
                format!(", once {percent} of the target is pledged{by}")
            }
            TriggerKind::MinTarget => format!(", once the offer's minimum target is pledged{by}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(json: serde_json::Value) -> Rule {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn rules_read_as_funders_say_them() {
        let live = rule(serde_json::json!({
            "kind": "per_pledge", "ratio_num": 1, "ratio_den": 1, "per_pledge_cap_pence": 25_000,
            "per_offer_cap_pence": 500_000, "trigger": {"kind": "percent_of_target", "value": 2_500, "min_investors": 10},
            "timing": "live"}));
        assert_eq!(
            live.in_words(),
            "£1 for every £1 pledged, up to £250 per investor and £5,000 per offer, once 25% of the target is pledged by at least 10 investors; matched as pledges arrive"
        );
        let half = rule(serde_json::json!({
            "kind": "per_pledge", "ratio_num": 1, "ratio_den": 2, "per_offer_cap_pence": 1_000_050,
            "trigger": {"kind": "min_target"}, "eligibility": {"postcode_prefixes": ["GL5", "GL6 1"]},
            "exclusive": true, "timing": "at_close"}));
        assert_eq!(
            half.in_words(),
            "50p for every £1 pledged, up to £10,000.50 per offer, once the offer's minimum target is pledged, for investors in GL5, GL6 1; no other fund may match the same offer; decided when the offer closes"
        );
        let odd = rule(serde_json::json!({
            "kind": "per_pledge", "ratio_num": 2, "ratio_den": 3, "per_offer_cap_pence": 100_000,
            "trigger": {"kind": "amount", "value": 250_000}, "timing": "live"}));
        assert!(odd
            .in_words()
            .starts_with("£2 for every £3 pledged, up to £1,000 per offer, once £2,500 is pledged;"));
        let lump = rule(serde_json::json!({
            "kind": "lump_sum", "lump_sum_pence": 200_000, "per_offer_cap_pence": 200_000,
            "trigger": {"kind": "none"}, "timing": "at_close"}));
        assert_eq!(
            lump.in_words(),
            "a lump sum of £2,000, up to £2,000 per offer; decided when the offer closes"
        );
    }

    #[test]
    fn money_reads_as_people_write_it() {
        assert_eq!(money(50), "50p");
        assert_eq!(money(100), "£1");
        assert_eq!(money(123_456), "£1,234.56");
        assert_eq!(money(0), "£0");
    }
}
