//! UK postcodes in their parts, and "keep it local" areas that match on whole parts (DESIGN §2).
//!
//! A postcode is an outward code — the **area** (one or two letters: `B`, `GL`), the
//! **district** (the area and a number, `GL5`, `GL50`), sometimes a **sub-district** letter
//! (`SW1A`) — then an inward code: the **sector** digit and the two-letter **unit** (`1AA`).
//! Source: Royal Mail's Postcode Address File format (the shapes A9, A99, AA9, AA99, A9A, AA9A;
//! units never use C, I, K, M, O or V) and its list of postcode areas, with the Crown
//! dependencies (GY, JE, IM) and the non-geographic GIR 0AA and BFPO numbers.
//!
//! A local area is an area (`B`), a district (`GL5`, `SW1A`) or a sector (`GL5 1`). It matches a
//! postcode when the postcode's parts start with the area's parts: `B` is Birmingham, never
//! `BS`; `GL5` is not `GL50`; `SW1` holds `SW1A`. Offer eligibility and fund eligibility both
//! use [`LocalArea::holds`].

use std::fmt;

/// The postcode areas: every UK area, the Crown dependencies, and BF (BFPO) and BX
/// (non-geographic).
const AREAS: &[&str] = &[
    "AB", "AL", "B", "BA", "BB", "BD", "BF", "BH", "BL", "BN", "BR", "BS", "BT", "BX", "CA", "CB", "CF", "CH", "CM",
    "CO", "CR", "CT", "CV", "CW", "DA", "DD", "DE", "DG", "DH", "DL", "DN", "DT", "DY", "E", "EC", "EH", "EN", "EX",
    "FK", "FY", "G", "GL", "GU", "GY", "HA", "HD", "HG", "HP", "HR", "HS", "HU", "HX", "IG", "IM", "IP", "IV", "JE",
    "KA", "KT", "KW", "KY", "L", "LA", "LD", "LE", "LL", "LN", "LS", "LU", "M", "ME", "MK", "ML", "N", "NE", "NG",
    "NN", "NP", "NR", "NW", "OL", "OX", "PA", "PE", "PH", "PL", "PO", "PR", "RG", "RH", "RM", "S", "SA", "SE", "SG",
    "SK", "SL", "SM", "SN", "SO", "SP", "SR", "SS", "ST", "SW", "SY", "TA", "TD", "TF", "TN", "TQ", "TR", "TS", "TW",
    "UB", "W", "WA", "WC", "WD", "WF", "WN", "WR", "WS", "WV", "YO", "ZE",
];

const OUTSIDE_THE_UK: &str = "must be a UK postcode, e.g. SW1A 1AA (this platform takes UK addresses only)";

/// A UK postcode, read into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Postcode {
    /// A postcode of the usual shape: `GL5 1AA`, `SW1A 1AA`, and `GIR 0AA`.
    Standard {
        /// `GL`, `SW`; `GIR` for Girobank's.
        area: String,
        /// The district's number, `5` or `50` (`0` for GIR).
        district: u8,
        /// The sub-district letter of `SW1A`, if any.
        sub_district: Option<char>,
        /// The inward code's digit.
        sector: u8,
        /// The inward code's two letters.
        unit: String,
    },
    /// A British Forces Post Office number, `BFPO 61`: an address for the share register, but
    /// in no local area.
    Bfpo(u16),
}

impl Postcode {
    /// Reads a postcode as people type it: any case, with or without its space. A shape that is
    /// not a UK postcode (`75001`, `D02 X285`) or an area the UK does not have is refused with
    /// a message saying so.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        if let Some(number) = compact.strip_prefix("BFPO") {
            return match number.parse::<u16>() {
                Ok(n) if (1..=9999).contains(&n) && !number.starts_with('0') => Ok(Postcode::Bfpo(n)),
                _ => Err("must be a BFPO number, e.g. BFPO 61".to_owned()),
            };
        }
        if compact == "GIR0AA" {
            return Ok(Postcode::girobank());
        }
        let (outward, inward) = split_inward(&compact).ok_or_else(|| OUTSIDE_THE_UK.to_owned())?;
        let (area, district, sub_district) = outward_parts(outward).ok_or_else(|| OUTSIDE_THE_UK.to_owned())?;
        if !AREAS.contains(&area) {
            return Err(format!("{area} is not a UK postcode area; {OUTSIDE_THE_UK}"));
        }
        Ok(Postcode::Standard {
            area: area.to_owned(),
            district,
            sub_district,
            sector: inward.0,
            unit: inward.1.to_owned(),
        })
    }

    fn girobank() -> Self {
        Postcode::Standard {
            area: "GIR".into(),
            district: 0,
            sub_district: None,
            sector: 0,
            unit: "AA".into(),
        }
    }

    /// The parts a local area is matched against: area, district, sub-district, sector. A BFPO
    /// number and GIR 0AA have none (they are in no local area).
    fn parts(&self) -> Option<[Option<String>; 4]> {
        match self {
            Postcode::Standard { area, .. } if area == "GIR" => None,
            Postcode::Standard {
                area,
                district,
                sub_district,
                sector,
                ..
            } => Some([
                Some(area.clone()),
                Some(district.to_string()),
                Some(sub_district.map(String::from).unwrap_or_default()),
                Some(sector.to_string()),
            ]),
            Postcode::Bfpo(_) => None,
        }
    }
}

/// `SW1A1AA` → (`SW1A`, (1, `AA`)), when the last three characters are a digit and two unit
/// letters.
fn split_inward(compact: &str) -> Option<(&str, (u8, &str))> {
    if !compact.is_ascii() || !(5..=7).contains(&compact.len()) {
        return None;
    }
    let (outward, inward) = compact.split_at(compact.len() - 3);
    let mut chars = inward.chars();
    let sector = chars.next()?.to_digit(10)? as u8;
    let unit = &inward[1..];
    let unit_ok = unit.chars().all(|c| c.is_ascii_uppercase() && !"CIKMOV".contains(c));
    unit_ok.then_some((outward, (sector, unit)))
}

/// `SW1A` → (`SW`, 1, Some('A')); `GL50` → (`GL`, 50, None): the shapes A9, A99, AA9, AA99, A9A
/// and AA9A.
fn outward_parts(outward: &str) -> Option<(&str, u8, Option<char>)> {
    let letters = outward.chars().take_while(char::is_ascii_uppercase).count();
    if !(1..=2).contains(&letters) {
        return None;
    }
    let (area, rest) = outward.split_at(letters);
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let (number, tail) = rest.split_at(digits);
    let sub_district = match (digits, tail.len()) {
        (1 | 2, 0) => None,
        (1, 1) => tail.chars().next().filter(char::is_ascii_uppercase),
        _ => return None,
    };
    if digits == 1 && tail.len() == 1 && sub_district.is_none() {
        return None;
    }
    Some((area, number.parse().ok()?, sub_district))
}

impl fmt::Display for Postcode {
    /// The form the share register keeps: upper case, one space before the inward code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Postcode::Standard { area, .. } if area == "GIR" => f.write_str("GIR 0AA"),
            Postcode::Standard {
                area,
                district,
                sub_district,
                sector,
                unit,
            } => {
                let sub = sub_district.map(String::from).unwrap_or_default();
                write!(f, "{area}{district}{sub} {sector}{unit}")
            }
            Postcode::Bfpo(n) => write!(f, "BFPO {n}"),
        }
    }
}

/// A "keep it local" area: an area (`B`), a district (`GL5`, `SW1A`) or a sector (`GL5 1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalArea {
    /// The area's parts, as many as it names: area, district, sub-district, sector.
    parts: Vec<String>,
}

impl LocalArea {
    /// Reads an area, district or sector as people type it (any case; the sector's space may
    /// be left out). Anything else — a whole postcode, a prefix that is not a whole part
    /// (`GL5 1A`), an area the UK does not have — is refused, naming it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let refused = || format!("{raw:?} is not a postcode area, district or sector (e.g. B, GL5 or GL5 1)");
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        if compact.is_empty() || !compact.is_ascii() {
            return Err(refused());
        }
        // A sector is a district followed by one digit; read the district first.
        let (district_part, sector) = match raw.trim().rsplit_once(char::is_whitespace) {
            Some((district, sector)) if sector.len() == 1 => (district.trim().to_ascii_uppercase(), Some(sector)),
            _ => (compact.clone(), None),
        };
        let mut parts = match outward_parts(&district_part) {
            Some((area, district, sub)) => {
                vec![
                    area.to_owned(),
                    district.to_string(),
                    sub.map(String::from).unwrap_or_default(),
                ]
            }
            None if district_part.chars().all(|c| c.is_ascii_uppercase()) && sector.is_none() => vec![district_part],
            None => return Err(refused()),
        };
        if !AREAS.contains(&parts[0].as_str()) {
            return Err(format!("{raw:?}: {} is not a UK postcode area", parts[0]));
        }
        if let Some(sector) = sector {
            let digit = sector.parse::<u8>().ok().filter(|d| *d <= 9).ok_or_else(refused)?;
            parts.push(digit.to_string());
        }
        Ok(LocalArea { parts })
    }

    /// Whether `postcode` is in this area: its parts start with the area's parts.
    pub fn holds(&self, postcode: &Postcode) -> bool {
        let Some(own) = postcode.parts() else { return false };
        // A district named without a sub-district letter holds its sub-districts (SW1 holds
        // SW1A); one named with a letter holds only that sub-district.
        self.parts.iter().zip(own.iter()).enumerate().all(|(i, (rule, part))| {
            let part = part.as_deref().unwrap_or_default();
            i == 2 && rule.is_empty() && self.parts.len() == 3 || rule == part
        })
    }
}

impl fmt::Display for LocalArea {
    /// `B`, `GL5`, `SW1A`, `GL5 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.parts[0])?;
        if let Some(district) = self.parts.get(1) {
            write!(f, "{district}{}", self.parts[2])?;
        }
        if let Some(sector) = self.parts.get(3) {
            write!(f, " {sector}")?;
        }
        Ok(())
    }
}

/// Reads a list of local areas (as an offer or a fund stores them), normalised and without
/// repeats; the first that cannot be read is the error, naming it.
pub fn local_areas(raw: &[String]) -> Result<Vec<LocalArea>, (usize, String)> {
    let mut areas: Vec<LocalArea> = Vec::new();
    for (index, text) in raw.iter().enumerate() {
        let area = LocalArea::parse(text).map_err(|message| (index, message))?;
        if !areas.contains(&area) {
            areas.push(area);
        }
    }
    Ok(areas)
}

/// As [`local_areas`], in the form an offer or a fund stores them (`GL5 1`).
pub fn normalised(raw: &[String]) -> Result<Vec<String>, (usize, String)> {
    Ok(local_areas(raw)?.iter().map(ToString::to_string).collect())
}

/// The postcode district (the outward code, `GL5` of `GL5 1AA`): what open data and public
/// pages say of where a society is, never the full postcode. None for BFPO, GIR 0AA and what
/// cannot be read.
pub fn district(postcode: &str) -> Option<String> {
    match Postcode::parse(postcode).ok()? {
        Postcode::Standard { area, .. } if area == "GIR" => None,
        Postcode::Standard {
            area,
            district,
            sub_district,
            ..
        } => Some(format!(
            "{area}{district}{}",
            sub_district.map(String::from).unwrap_or_default()
        )),
        Postcode::Bfpo(_) => None,
    }
}

/// Whether a postcode (as stored) is in any of `areas` (stored forms); no areas means anywhere.
/// A stored area or postcode that cannot be read holds nothing.
pub fn in_any(areas: &[String], postcode: &str) -> bool {
    if areas.is_empty() {
        return true;
    }
    let Ok(postcode) = Postcode::parse(postcode) else {
        return false;
    };
    areas
        .iter()
        .filter_map(|area| LocalArea::parse(area).ok())
        .any(|area| area.holds(&postcode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_district_is_the_outward_code_only() {
        assert_eq!(district("gl5 1aa").as_deref(), Some("GL5"));
        assert_eq!(district("SW1A 2AA").as_deref(), Some("SW1A"));
        assert_eq!(district("EC1A1BB").as_deref(), Some("EC1A"));
        assert_eq!(district("BFPO 61"), None);
        assert_eq!(district("GIR 0AA"), None);
        assert_eq!(district("75001"), None);
    }
    use proptest::prelude::*;

    fn area(text: &str) -> LocalArea {
        LocalArea::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn code(text: &str) -> Postcode {
        Postcode::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn postcodes_are_read_into_their_parts_and_printed_as_the_register_keeps_them() {
        for (raw, printed) in [
            ("sw1a1aa", "SW1A 1AA"),
            ("GL5 1AA", "GL5 1AA"),
            (" gl50 1ab ", "GL50 1AB"),
            ("B33 8TH", "B33 8TH"),
            ("M1 1AE", "M1 1AE"),
            ("EC1A 1BB", "EC1A 1BB"),
            ("W1A 0AX", "W1A 0AX"),
            ("gir 0aa", "GIR 0AA"),
            ("BFPO 61", "BFPO 61"),
            ("bfpo61", "BFPO 61"),
            ("JE2 3AB", "JE2 3AB"),
            ("ZE1 0AA", "ZE1 0AA"),
        ] {
            assert_eq!(code(raw).to_string(), printed, "{raw}");
        }
    }

    #[test]
    fn what_is_not_a_uk_postcode_is_refused_saying_so() {
        for raw in [
            "", "75001", "10115", "D02 X285", "SW1A", "SW1A 1A1", "QQ1 1AA", "XX1 1AA", "GL5 1CA", "É1 1AA", "A1AA 1AA",
        ] {
            let error = Postcode::parse(raw).expect_err(raw);
            assert!(error.contains("UK"), "{raw}: {error}");
        }
        assert!(Postcode::parse("BFPO 0").is_err());
        assert!(Postcode::parse("BFPO 12345").is_err());
    }

    #[test]
    fn a_local_area_is_whole_parts_of_a_postcode() {
        assert!(area("B").holds(&code("B33 8TH")));
        assert!(!area("B").holds(&code("BS1 4DJ")));
        assert!(area("GL5").holds(&code("GL5 1AA")));
        assert!(!area("GL5").holds(&code("GL50 1AA")));
        assert!(!area("GL5").holds(&code("GL56 0AA")));
        assert!(area("GL5 1").holds(&code("GL5 1AA")));
        assert!(!area("GL5 1").holds(&code("GL5 2AA")));
        assert!(
            area("gl51").holds(&code("GL51 9ZZ")),
            "GL51 is a district, not GL5 sector 1"
        );
        assert!(area("SW1").holds(&code("SW1A 1AA")));
        assert!(area("SW1A").holds(&code("SW1A 1AA")));
        assert!(!area("SW1A").holds(&code("SW1E 5AA")));
        assert!(!area("GL").holds(&code("BFPO 61")));
        assert!(!area("G").holds(&code("GIR 0AA")));
    }

    #[test]
    fn a_local_area_that_is_not_one_is_refused_naming_it() {
        for raw in ["", "GL5 1AA", "GL5 1A", "1AB", "QQ", "GL5A1", "SW1 12", "B!"] {
            let error = LocalArea::parse(raw).expect_err(raw);
            assert!(error.contains(raw.trim()) || raw.trim().is_empty(), "{raw}: {error}");
        }
        assert_eq!(area(" gl5  1 ").to_string(), "GL5 1");
        assert_eq!(area("sw1a").to_string(), "SW1A");
        assert_eq!(local_areas(&["b".into(), "B".into(), "GL5".into()]).unwrap().len(), 2);
        assert_eq!(local_areas(&["B".into(), "nope".into()]).unwrap_err().0, 1);
    }

    /// A postcode of the usual shape, built from its parts.
    fn postcode_parts() -> impl Strategy<Value = (String, u8, Option<char>, u8, String)> {
        (
            prop::sample::select(AREAS.to_vec()),
            1u8..=99,
            prop::option::of(prop::sample::select(vec!['A', 'B', 'E', 'W'])),
            0u8..=9,
            "[ABDEFGHJLNPQRSTUWXYZ]{2}",
        )
            .prop_map(|(area, district, sub, sector, unit)| {
                let sub = if district > 9 { None } else { sub };
                (area.to_owned(), district, sub, sector, unit)
            })
    }

    proptest! {
        #[test]
        fn a_rule_holds_a_postcode_exactly_when_the_postcode_s_parts_start_with_the_rule_s(
            (area_name, district, sub, sector, unit) in postcode_parts(),
            depth in 1usize..=3,
            other in postcode_parts(),
        ) {
            let sub_text = sub.map(String::from).unwrap_or_default();
            let postcode = code(&format!("{area_name}{district}{sub_text} {sector}{unit}"));
            let rule_text = match depth {
                1 => area_name.clone(),
                2 => format!("{area_name}{district}{sub_text}"),
                _ => format!("{area_name}{district}{sub_text} {sector}"),
            };
            prop_assert!(area(&rule_text).holds(&postcode), "{} should hold {}", rule_text, postcode);
            // Against another postcode, the rule holds exactly when their parts agree.
            let (a2, d2, s2, c2, u2) = other;
            let other_code = code(&format!("{a2}{d2}{} {c2}{u2}", s2.map(String::from).unwrap_or_default()));
            // A district named without its letter holds its sub-districts (SW1 holds SW1A).
            let district_agrees = d2 == district && (s2 == sub || (sub.is_none() && depth == 2));
            let agrees = a2 == area_name && (depth < 2 || district_agrees) && (depth < 3 || c2 == sector);
            prop_assert_eq!(area(&rule_text).holds(&other_code), agrees, "{} and {}", rule_text, other_code);
        }

        #[test]
        fn any_text_is_a_postcode_or_refused_and_a_read_one_reads_back_the_same(raw in "\\PC{0,12}|[A-Za-z0-9 ]{0,10}") {
            if let Ok(postcode) = Postcode::parse(&raw) {
                prop_assert_eq!(Postcode::parse(&postcode.to_string()), Ok(postcode));
            }
            let _ = LocalArea::parse(&raw);
        }
    }
}
