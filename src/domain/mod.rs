//! Pure domain rules: no I/O, no clock (times are parameters), no database.

/// For an enum whose variants each have one text name (as the API and the database write
/// them): `ALL`, `as_str`, `from_text` and `Display`.
macro_rules! text_names {
    ($ty:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),*
                }
            }

            pub fn from_text(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod governance;
pub mod identity;
pub mod impact;
pub mod matching;
pub mod money;
pub mod offer;
pub mod pledge;
pub mod postcode;
pub mod reconcile;
