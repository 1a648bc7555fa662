//! The email notifier: a transactional outbox. `enqueue` renders an email from its template and
//! writes it as an outbox row inside the caller's transaction, so an email exists exactly when
//! the event that causes it does; `delivery` sends due rows later, at least once.

pub mod delivery;

use std::collections::HashMap;
use std::sync::OnceLock;

use diesel::prelude::*;
use minijinja::Environment;
use serde::Serialize;

use crate::clock;
use crate::db::schema::{funder_admins, outbox, society_admins, users};
use crate::db::DbConnection;
use crate::error::AppError;

/// The kinds of email, each a template pair `templates/email/<kind>.{txt,html}` (the first
/// line of the text template is the subject).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Welcome,
    PledgeReceived,
    PaymentConfirmed,
    PartPaymentReceived,
    MoneyGoneOutside,
    PledgeEnded,
    OfferOpened,
    OfferClosing,
    ApplicationDecided,
    Commitment,
    RefundStarted,
    SharesIssued,
    OfferDecided,
    ConfirmationAwaited,
    ThresholdChange,
    Invitation,
    AdminChange,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Welcome => "welcome",
            Kind::PledgeReceived => "pledge_received",
            Kind::PaymentConfirmed => "payment_confirmed",
            Kind::PartPaymentReceived => "part_payment_received",
            Kind::MoneyGoneOutside => "money_gone_outside",
            Kind::PledgeEnded => "pledge_ended",
            Kind::OfferOpened => "offer_opened",
            Kind::OfferClosing => "offer_closing",
            Kind::ApplicationDecided => "application_decided",
            Kind::Commitment => "commitment",
            Kind::RefundStarted => "refund_started",
            Kind::SharesIssued => "shares_issued",
            Kind::OfferDecided => "offer_decided",
            Kind::ConfirmationAwaited => "confirmation_awaited",
            Kind::ThresholdChange => "threshold_change",
            Kind::Invitation => "invitation",
            Kind::AdminChange => "admin_change",
        }
    }
}

const TEMPLATES: [(&str, &str); 34] = [
    ("welcome.txt", include_str!("../../templates/email/welcome.txt")),
    ("welcome.html", include_str!("../../templates/email/welcome.html")),
    (
        "pledge_received.txt",
        include_str!("../../templates/email/pledge_received.txt"),
    ),
    (
        "pledge_received.html",
        include_str!("../../templates/email/pledge_received.html"),
    ),
    (
        "payment_confirmed.txt",
        include_str!("../../templates/email/payment_confirmed.txt"),
    ),
    (
        "payment_confirmed.html",
        include_str!("../../templates/email/payment_confirmed.html"),
    ),
    (
        "part_payment_received.txt",
        include_str!("../../templates/email/part_payment_received.txt"),
    ),
    (
        "money_gone_outside.txt",
        include_str!("../../templates/email/money_gone_outside.txt"),
    ),
    (
        "money_gone_outside.html",
        include_str!("../../templates/email/money_gone_outside.html"),
    ),
    (
        "part_payment_received.html",
        include_str!("../../templates/email/part_payment_received.html"),
    ),
    (
        "pledge_ended.txt",
        include_str!("../../templates/email/pledge_ended.txt"),
    ),
    (
        "pledge_ended.html",
        include_str!("../../templates/email/pledge_ended.html"),
    ),
    (
        "offer_opened.txt",
        include_str!("../../templates/email/offer_opened.txt"),
    ),
    (
        "offer_opened.html",
        include_str!("../../templates/email/offer_opened.html"),
    ),
    (
        "offer_closing.txt",
        include_str!("../../templates/email/offer_closing.txt"),
    ),
    (
        "offer_closing.html",
        include_str!("../../templates/email/offer_closing.html"),
    ),
    (
        "application_decided.txt",
        include_str!("../../templates/email/application_decided.txt"),
    ),
    (
        "application_decided.html",
        include_str!("../../templates/email/application_decided.html"),
    ),
    ("commitment.txt", include_str!("../../templates/email/commitment.txt")),
    ("commitment.html", include_str!("../../templates/email/commitment.html")),
    (
        "refund_started.txt",
        include_str!("../../templates/email/refund_started.txt"),
    ),
    (
        "refund_started.html",
        include_str!("../../templates/email/refund_started.html"),
    ),
    (
        "shares_issued.txt",
        include_str!("../../templates/email/shares_issued.txt"),
    ),
    (
        "shares_issued.html",
        include_str!("../../templates/email/shares_issued.html"),
    ),
    (
        "offer_decided.txt",
        include_str!("../../templates/email/offer_decided.txt"),
    ),
    (
        "offer_decided.html",
        include_str!("../../templates/email/offer_decided.html"),
    ),
    (
        "confirmation_awaited.txt",
        include_str!("../../templates/email/confirmation_awaited.txt"),
    ),
    (
        "confirmation_awaited.html",
        include_str!("../../templates/email/confirmation_awaited.html"),
    ),
    (
        "threshold_change.txt",
        include_str!("../../templates/email/threshold_change.txt"),
    ),
    (
        "threshold_change.html",
        include_str!("../../templates/email/threshold_change.html"),
    ),
    ("invitation.txt", include_str!("../../templates/email/invitation.txt")),
    ("invitation.html", include_str!("../../templates/email/invitation.html")),
    (
        "admin_change.txt",
        include_str!("../../templates/email/admin_change.txt"),
    ),
    (
        "admin_change.html",
        include_str!("../../templates/email/admin_change.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENVIRONMENT: OnceLock<Environment<'static>> = OnceLock::new();
    ENVIRONMENT.get_or_init(|| {
        let mut env = Environment::new();
        // Variables missing from the context are an error, not an empty string in an email.
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("the email templates are compiled in and parsed by the tests");
        }
        env
    })
}

/// A rendered email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders a template pair (HTML is auto-escaped, the text is not).
pub fn render(kind: Kind, context: &impl Serialize) -> Result<Rendered, AppError> {
    let env = environment();
    let fail = |e: minijinja::Error| AppError::Internal(anyhow::anyhow!("email template {}: {e}", kind.name()));
    let text = env
        .get_template(&format!("{}.txt", kind.name()))
        .map_err(fail)?
        .render(context)
        .map_err(fail)?;
    let html = env
        .get_template(&format!("{}.html", kind.name()))
        .map_err(fail)?
        .render(context)
        .map_err(fail)?;
    let (subject, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    Ok(Rendered {
        subject: subject.trim().to_owned(),
        text: body.trim_start_matches('\n').to_owned(),
        html,
    })
}

#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct NewEmail<'a> {
    id: String,
    kind: &'a str,
    recipient: &'a str,
    subject: String,
    body_text: String,
    body_html: String,
    dedupe_key: &'a str,
    status: &'a str,
    next_attempt_at: chrono::NaiveDateTime,
    created_at: chrono::NaiveDateTime,
}

/// One email of a batch: its recipient, its template's context and its dedupe key.
pub struct Queued {
    pub recipient: String,
    pub context: serde_json::Value,
    pub dedupe_key: String,
}

/// Renders and queues many emails of one kind in one statement (a multi-row insert; a key
/// already queued is skipped), for work that emails thousands at once (close-out).
pub fn enqueue_many(conn: &mut DbConnection, kind: Kind, emails: &[Queued]) -> Result<(), AppError> {
    if emails.is_empty() {
        return Ok(());
    }
    let now = clock::now();
    let rows = emails
        .iter()
        .map(|email| {
            let rendered = render(kind, &email.context)?;
            Ok(NewEmail {
                id: clock::new_id(),
                kind: kind.name(),
                recipient: &email.recipient,
                subject: rendered.subject,
                body_text: rendered.text,
                body_html: rendered.html,
                dedupe_key: &email.dedupe_key,
                status: "pending",
                next_attempt_at: now,
                created_at: now,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    insert_skipping_duplicates(conn, &rows)
}

/// Inserts emails, skipping any whose dedupe key is taken (and only those: a broken constraint
/// of any other kind is still an error).
fn insert_skipping_duplicates(conn: &mut DbConnection, rows: &[NewEmail<'_>]) -> Result<(), AppError> {
    // Upserts do not go through the MultiConnection enum: one branch per backend. SQLite
    // (in-process, no round trips) takes them one by one: diesel has no multi-row upsert for
    // it.
    match conn {
        DbConnection::Postgresql(pg) => {
            diesel::insert_into(outbox::table)
                .values(rows)
                .on_conflict(outbox::dedupe_key)
                .do_nothing()
                .execute(pg)?;
        }
        DbConnection::Sqlite(lite) => {
            for row in rows {
                diesel::insert_into(outbox::table)
                    .values(row)
                    .on_conflict(outbox::dedupe_key)
                    .do_nothing()
                    .execute(lite)?;
            }
        }
    }
    Ok(())
}

/// Renders and queues one email to `recipient`. With a `dedupe_key`, a second email with the
/// same key is not queued (one closing reminder per offer and admin, however often asked).
pub fn enqueue(
    conn: &mut DbConnection,
    kind: Kind,
    recipient: &str,
    context: &impl Serialize,
    dedupe_key: Option<&str>,
) -> Result<(), AppError> {
    let rendered = render(kind, context)?;
    let now = clock::now();
    let Some(dedupe_key) = dedupe_key else {
        // The common case, as a plain (prepared and cached) insert.
        diesel::insert_into(outbox::table)
            .values((
                outbox::id.eq(clock::new_id()),
                outbox::kind.eq(kind.name()),
                outbox::recipient.eq(recipient),
                outbox::subject.eq(&rendered.subject),
                outbox::body_text.eq(&rendered.text),
                outbox::body_html.eq(&rendered.html),
                outbox::status.eq("pending"),
                outbox::next_attempt_at.eq(now),
                outbox::created_at.eq(now),
            ))
            .execute(conn)?;
        return Ok(());
    };
    insert_skipping_duplicates(
        conn,
        &[NewEmail {
            id: clock::new_id(),
            kind: kind.name(),
            recipient,
            subject: rendered.subject,
            body_text: rendered.text,
            body_html: rendered.html,
            dedupe_key,
            status: "pending",
            next_attempt_at: now,
            created_at: now,
        }],
    )
}

/// A user's email address and display name.
pub fn user_contact(conn: &mut DbConnection, user_id: &str) -> Result<(String, String), AppError> {
    Ok(users::table
        .find(user_id)
        .select((users::email, users::display_name))
        .first(conn)?)
}

/// Each of these users' email address and display name, by user id.
pub fn user_contacts(
    conn: &mut DbConnection,
    user_ids: &[&str],
) -> Result<HashMap<String, (String, String)>, AppError> {
    let rows: Vec<(String, String, String)> = users::table
        .filter(users::id.eq_any(user_ids))
        .select((users::id, users::email, users::display_name))
        .load(conn)?;
    Ok(rows.into_iter().map(|(id, email, name)| (id, (email, name))).collect())
}

/// The email addresses of a society's admins; with `reminders_only`, of those who want
/// closing reminders.
pub fn society_admin_emails(
    conn: &mut DbConnection,
    society_id: &str,
    reminders_only: bool,
) -> Result<Vec<(String, String)>, AppError> {
    let mut query = society_admins::table
        .inner_join(users::table)
        .filter(society_admins::society_id.eq(society_id))
        .select((users::id, users::email))
        .order(users::id)
        .into_boxed();
    if reminders_only {
        query = query.filter(users::closing_reminders.eq(true));
    }
    Ok(query.load(conn)?)
}

pub fn funder_admin_emails(conn: &mut DbConnection, funder_id: &str) -> Result<Vec<String>, AppError> {
    Ok(funder_admins::table
        .inner_join(users::table)
        .filter(funder_admins::funder_id.eq(funder_id))
        .select(users::email)
        .order(users::email)
        .load(conn)?)
}

/// An outbox row as listed to platform admins.
#[derive(Debug, Serialize, utoipa::ToSchema, Queryable)]
pub struct OutboxEntry {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[diesel(deserialize_as = chrono::NaiveDateTime)]
    pub created_at: clock::Timestamp,
}

/// Rows of a status, newest first.
pub fn list(
    conn: &mut DbConnection,
    status: &str,
    page: &crate::services::page::PageRequest,
) -> Result<crate::services::page::Page<OutboxEntry>, AppError> {
    let mut query = outbox::table
        .filter(outbox::status.eq(status))
        .select((
            outbox::id,
            outbox::kind,
            outbox::recipient,
            outbox::subject,
            outbox::status,
            outbox::attempts,
            outbox::last_error,
            outbox::created_at,
        ))
        .order(outbox::id.desc())
        .limit(page.limit + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(outbox::id.lt(after));
    }
    crate::services::page::Page::from_rows(query.load(conn)?, page, |e: &OutboxEntry| e.id.clone(), Ok)
}

/// Puts a dead row back in the queue, to be tried again now.
pub fn retry(conn: &mut DbConnection, id: &str) -> Result<(), AppError> {
    let changed = diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::status.eq("dead")),
    )
    .set((
        outbox::status.eq("pending"),
        outbox::attempts.eq(0),
        outbox::next_attempt_at.eq(clock::now()),
        outbox::lease_until.eq(None::<chrono::NaiveDateTime>),
    ))
    .execute(conn)?;
    if changed == 0 {
        let exists = outbox::table
            .find(id)
            .select(outbox::id)
            .first::<String>(conn)
            .optional()?
            .is_some();
        return Err(if exists {
            AppError::conflict("only a dead email can be retried")
        } else {
            AppError::NotFound("email")
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_template_renders_with_a_subject_and_escapes_html() {
        let context = json!({
            "name": "Ann <b>", "amount": "£1,234.56", "shares": 1234, "offer": "Solar & Wind", "due": "1 Dec 2026",
            "account_name": "Riverside", "sort_code": "12-34-56", "account_number": "12345678", "reference": "CSK7M29QXT2",
            "cancellable_until": "7 Dec 2026", "how": "expired", "closes_at": "9 Dec 2026", "min_target": "£10,000.00",
            "max_target": "£30,000.00", "pledged": "£5,000.00", "matched": "£0.00", "fund": "Booster", "decision": "approved",
            "commitment": "£5,000.00", "reason": "n/a", "card": false, "received": "£100.00", "owed": "£150.00", "society": "Riverside Energy", "outcome": "failed", "raised": "£9,000.00", "event": "made", "available": "£45,000.00", "asked": "no longer need a second admin for any approval",
            "inviter": "Bea <i>", "organisation": "Solar & Wind", "event": "Solar & Wind added Ann",
        });
        for kind in [
            Kind::Welcome,
            Kind::PledgeReceived,
            Kind::PaymentConfirmed,
            Kind::PartPaymentReceived,
            Kind::PledgeEnded,
            Kind::OfferOpened,
            Kind::OfferClosing,
            Kind::ApplicationDecided,
            Kind::Commitment,
            Kind::RefundStarted,
            Kind::SharesIssued,
            Kind::OfferDecided,
            Kind::ConfirmationAwaited,
            Kind::ThresholdChange,
            Kind::Invitation,
            Kind::AdminChange,
        ] {
            let rendered = render(kind, &context).unwrap();
            assert!(!rendered.subject.is_empty() && !rendered.text.is_empty(), "{kind:?}");
            assert!(
                !rendered.html.contains("<b>") && !rendered.html.contains("Solar & Wind"),
                "{kind:?} escapes HTML"
            );
        }
        let pledge = render(Kind::PledgeReceived, &context).unwrap();
        assert!(pledge.text.contains("CSK7M29QXT2") && pledge.text.contains("£1,234.56"));
        assert_eq!(pledge.subject, "Your pledge of £1,234.56 to Solar & Wind: how to pay");
        assert!(
            render(Kind::Welcome, &json!({})).is_err(),
            "a missing variable is an error"
        );
    }
}
