//! Who may act for an organisation, and who may be the second person on a decision. Pure: the
//! rows and times come in as parameters.
//!
//! Roles are invitations accepted. Adding a funder admin takes two people before the invitee
//! is asked: a second admin of the funder (or, while the funder has fewer than
//! [`FIRST_ADMINS`] admins, a platform admin). A platform admin is never a funder admin by being
//! one, and cannot invite itself (separation of duties).
//!
//! The second person on any two-person decision (confirming an approval, relaxing a fund's
//! threshold, agreeing to a new admin) must be someone other than the requester who held the
//! role **before the request was made**, and whom the requester did not bring in (invite or
//! second) within the cooling-off period before the request. So one person with a second
//! account cannot complete a control alone: the new account joins after the request, or it
//! joins through the requester and must wait out the cooling-off, during which every admin of
//! the funder has been e-mailed about it.

use chrono::{Duration, NaiveDateTime};

/// While a funder has fewer admins than this, a platform admin may add its admins (and is the
/// second person on its admins' invitations): a funder's first admins.
pub const FIRST_ADMINS: usize = 2;

/// What an invitation would make its invitee an admin of.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum InvitationKind {
    Funder,
    Society,
}

text_names!(InvitationKind {
    Funder => "funder",
    Society => "society",
});

/// Where an invitation stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// A funder admin invited; a second person must agree before the invitee is asked.
    AwaitingSecondAdmin,
    /// The invitee is asked; the role starts when they accept.
    Invited,
    Accepted,
    Declined,
}

text_names!(InvitationStatus {
    AwaitingSecondAdmin => "awaiting_second_admin",
    Invited => "invited",
    Accepted => "accepted",
    Declined => "declined",
});

impl InvitationStatus {
    pub const OPEN: [InvitationStatus; 2] = [InvitationStatus::AwaitingSecondAdmin, InvitationStatus::Invited];
}

/// What an entry of a funder's audit trail records.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    serde::Serialize,
    utoipa::ToSchema,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    AdminInvited,
    AdminInvitationSeconded,
    AdminJoined,
    InvitationDeclined,
    FundCreated,
    ApprovalHeld,
    ApprovalConfirmed,
    ApprovalDeclined,
    ApplicationApproved,
    ApplicationRejected,
    ThresholdChangeAsked,
    ThresholdSet,
    WitnessKeySet,
    OfferCorrected,
    ApplicationWithdrawn,
}

text_names!(AuditAction {
    AdminInvited => "admin_invited",
    AdminInvitationSeconded => "admin_invitation_seconded",
    AdminJoined => "admin_joined",
    InvitationDeclined => "invitation_declined",
    FundCreated => "fund_created",
    ApprovalHeld => "approval_held",
    ApprovalConfirmed => "approval_confirmed",
    ApprovalDeclined => "approval_declined",
    ApplicationApproved => "application_approved",
    ApplicationRejected => "application_rejected",
    ThresholdChangeAsked => "threshold_change_asked",
    ThresholdSet => "threshold_set",
    WitnessKeySet => "witness_key_set",
    OfferCorrected => "offer_corrected",
    ApplicationWithdrawn => "application_withdrawn",
});

/// One person's seat as an admin: since when, and who brought them in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub user_id: String,
    /// When the role started (the invitation was accepted).
    pub since: NaiveDateTime,
    /// Who invited them, and who agreed as the second person (none for a society's founder).
    pub invited_by: Option<String>,
    pub seconded_by: Option<String>,
}

/// Why someone may not be the second person on a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotSecond {
    /// They made the request.
    Requester,
    /// They were not an admin when the request was made.
    JoinedAfterRequest,
    /// The requester brought them in less than the cooling-off period before the request.
    RequesterBroughtThemIn,
}

impl NotSecond {
    /// The reason in words, for a 403.
    pub fn explain(&self, cooling_off: Duration) -> String {
        match self {
            NotSecond::Requester => {
                "you made this request: a second, different funder admin must answer it".into()
            }
            NotSecond::JoinedAfterRequest => {
                "you became an admin after this request was made: only an admin from before it may be the second person"
                    .into()
            }
            NotSecond::RequesterBroughtThemIn => format!(
                "the admin who made this request brought you in less than {} days before it: another admin must be the second person",
                cooling_off.num_days()
            ),
        }
    }
}

/// Whether `second` may be the second person on a request `requester` made at `requested_at`.
pub fn may_second(
    requester: &str,
    requested_at: NaiveDateTime,
    second: &Seat,
    cooling_off: Duration,
) -> Result<(), NotSecond> {
    if second.user_id == requester {
        return Err(NotSecond::Requester);
    }
    if second.since > requested_at {
        return Err(NotSecond::JoinedAfterRequest);
    }
    let brought_in = [&second.invited_by, &second.seconded_by]
        .into_iter()
        .any(|by| by.as_deref() == Some(requester));
    if brought_in && requested_at - second.since < cooling_off {
        return Err(NotSecond::RequesterBroughtThemIn);
    }
    Ok(())
}

/// Who is asking to add a funder admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inviter {
    FunderAdmin,
    /// A platform admin who is not an admin of this funder.
    PlatformAdmin,
}

/// What a request to add a funder admin does, given the funder's admins now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunderInvitation {
    /// The invitee is asked at once (a platform admin adds one of a funder's first admins).
    Invite,
    /// A second person must agree first.
    AwaitSecond,
    /// Refused (403), with the reason.
    Refuse(&'static str),
}

/// The start of a funder admin invitation (no invitation open yet for this person).
pub fn start_funder_invitation(inviter: Inviter, invites_self: bool, admins: usize) -> FunderInvitation {
    match inviter {
        Inviter::PlatformAdmin if invites_self => FunderInvitation::Refuse(
            "a platform admin cannot make itself a funder admin: a funder's admins are people of the funder",
        ),
        Inviter::PlatformAdmin if admins >= FIRST_ADMINS => FunderInvitation::Refuse(
            "this funder has its admins: only they may add another (a platform admin adds a funder's first two)",
        ),
        Inviter::PlatformAdmin => FunderInvitation::Invite,
        Inviter::FunderAdmin => FunderInvitation::AwaitSecond,
    }
}

/// Whether a platform admin (not an admin of the funder) may be the second person on a funder
/// admin's invitation: only for a funder's first admins.
pub fn platform_may_second(admins: usize) -> bool {
    admins < FIRST_ADMINS
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(minutes: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + minutes * 60, 0)
            .expect("a time")
            .naive_utc()
    }

    fn seat(user: &str, since: i64, invited_by: Option<&str>) -> Seat {
        Seat {
            user_id: user.into(),
            since: at(since),
            invited_by: invited_by.map(str::to_owned),
            seconded_by: None,
        }
    }

    const WEEK: i64 = 7 * 24 * 60;

    #[test]
    fn a_second_account_cannot_confirm_for_its_owner() {
        let week = Duration::days(7);
        // Alice asks at minute 0; her second account joined a minute later.
        assert_eq!(
            may_second("alice", at(0), &seat("alice2", 1, Some("alice")), week),
            Err(NotSecond::JoinedAfterRequest)
        );
        // ... or joined through her the day before.
        assert_eq!(
            may_second("alice", at(0), &seat("alice2", -24 * 60, Some("alice")), week),
            Err(NotSecond::RequesterBroughtThemIn)
        );
        assert_eq!(
            may_second("alice", at(0), &seat("alice", -WEEK * 10, None), week),
            Err(NotSecond::Requester)
        );
        // A colleague of long standing may; so may Alice's invitee after the cooling-off.
        assert_eq!(
            may_second("alice", at(0), &seat("bob", -WEEK * 10, Some("carol")), week),
            Ok(())
        );
        assert_eq!(
            may_second("alice", at(0), &seat("dan", -WEEK, Some("alice")), week),
            Ok(())
        );
    }

    #[test]
    fn seconding_counts_as_bringing_in() {
        let mut s = seat("erin", -60, Some("bob"));
        s.seconded_by = Some("alice".into());
        assert_eq!(
            may_second("alice", at(0), &s, Duration::days(7)),
            Err(NotSecond::RequesterBroughtThemIn)
        );
    }

    #[test]
    fn platform_admins_add_only_a_funders_first_admins_and_never_themselves() {
        use FunderInvitation::*;
        assert_eq!(start_funder_invitation(Inviter::PlatformAdmin, false, 0), Invite);
        assert_eq!(start_funder_invitation(Inviter::PlatformAdmin, false, 1), Invite);
        assert!(matches!(
            start_funder_invitation(Inviter::PlatformAdmin, false, 2),
            Refuse(_)
        ));
        assert!(matches!(
            start_funder_invitation(Inviter::PlatformAdmin, true, 0),
            Refuse(_)
        ));
        assert_eq!(start_funder_invitation(Inviter::FunderAdmin, false, 1), AwaitSecond);
        assert_eq!(start_funder_invitation(Inviter::FunderAdmin, false, 5), AwaitSecond);
        assert!(platform_may_second(1) && !platform_may_second(2));
    }

    proptest! {
        // Whoever joined after a request is never its second person, whoever brought them in.
        #[test]
        fn no_one_who_joined_after_the_request_seconds_it(
            requested in -100_000i64..100_000, after in 1i64..100_000, days in 0i64..30,
            invited_by_requester in any::<bool>(),
        ) {
            let s = seat("x", requested + after, invited_by_requester.then_some("req"));
            prop_assert_eq!(may_second("req", at(requested), &s, Duration::days(days)), Err(NotSecond::JoinedAfterRequest));
        }

        // The requester's invitee may second exactly when the cooling-off had run by the request.
        #[test]
        fn the_requesters_invitee_waits_out_the_cooling_off(
            since in -200_000i64..0, days in 0i64..30,
        ) {
            let s = seat("x", since, Some("req"));
            let ok = -since >= days * 24 * 60;
            prop_assert_eq!(may_second("req", at(0), &s, Duration::days(days)).is_ok(), ok);
        }

        // Someone else's invitee who joined before the request always may.
        #[test]
        fn an_admin_from_before_the_request_may(since in -200_000i64..=0, days in 0i64..30) {
            let s = seat("x", since, Some("someone-else"));
            prop_assert_eq!(may_second("req", at(0), &s, Duration::days(days)), Ok(()));
        }
    }
}
