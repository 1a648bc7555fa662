//! The delivery worker: claims due outbox rows with a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so workers in several instances never take the same row; on SQLite the write
//! lock makes the claim exclusive), sends each outside any transaction, and marks it sent, or
//! schedules a retry with exponential backoff and jitter, or after `max_attempts` marks it dead.
//!
//! At least once: a worker that dies after sending but before marking leaves the row leased;
//! when the lease ends another worker sends it again, with the same Message-ID
//! (`<outbox id@community-shares>`), so receivers can drop the repeat. Each claim has a token:
//! a worker renews its lease on a row just before sending it and writes the outcome only while
//! its token still holds the row, so a slow worker never sends a row another has taken, nor
//! overwrites that worker's outcome.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport as _};
use secrecy::ExposeSecret;

use crate::clock;
use crate::config::{EmailSettings, EmailTransport, SmtpTls};
use crate::db::schema::outbox;
use crate::db::{Db, DbConnection};
use crate::error::AppError;

/// Where email goes.
pub enum Transport {
    /// `.eml` files in a folder (the default: no server needed).
    Files(std::path::PathBuf),
    Smtp(Box<SmtpTransport>),
}

impl Transport {
    pub fn from_settings(settings: &EmailSettings) -> anyhow::Result<Self> {
        Ok(match settings.transport {
            EmailTransport::File => {
                std::fs::create_dir_all(&settings.file_dir)
                    .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", settings.file_dir.display()))?;
                Transport::Files(settings.file_dir.clone())
            }
            EmailTransport::Smtp => {
                let smtp = &settings.smtp;
                let tls = match smtp.tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::Starttls => Tls::Required(TlsParameters::new(smtp.host.clone())?),
                    SmtpTls::Tls => Tls::Wrapper(TlsParameters::new(smtp.host.clone())?),
                };
                let mut builder = SmtpTransport::builder_dangerous(&smtp.host)
                    .port(smtp.port)
                    .tls(tls)
                    .timeout(Some(Duration::from_secs(smtp.timeout_secs)));
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
                }
                Transport::Smtp(Box::new(builder.build()))
            }
        })
    }

    fn send(&self, id: &str, message: &Message) -> Result<(), String> {
        match self {
            Transport::Files(dir) => {
                // Written whole then renamed: a reader never sees half a message, and a resend
                // replaces the file.
                let tmp = dir.join(format!(".{id}.eml.tmp"));
                std::fs::write(&tmp, message.formatted()).map_err(|e| e.to_string())?;
                std::fs::rename(&tmp, dir.join(format!("{id}.eml"))).map_err(|e| e.to_string())
            }
            Transport::Smtp(smtp) => smtp.send(message).map(|_| ()).map_err(|e| e.to_string()),
        }
    }
}

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    recipient: String,
    #[diesel(sql_type = Text)]
    subject: String,
    #[diesel(sql_type = Text)]
    body_text: String,
    #[diesel(sql_type = Text)]
    body_html: String,
    #[diesel(sql_type = Integer)]
    attempts: i32,
}

/// Claims up to `batch` due rows for `lease` under a fresh claim token.
fn claim(conn: &mut DbConnection, batch: i64, lease: chrono::Duration, token: &str) -> Result<Vec<Claimed>, AppError> {
    let now = clock::now();
    let (numbered, lock) = match conn {
        DbConnection::Postgresql(_) => (true, " FOR UPDATE SKIP LOCKED"),
        DbConnection::Sqlite(_) => (false, ""),
    };
    let p = |n: usize| if numbered { format!("${n}") } else { "?".to_owned() };
    let query = format!(
        "UPDATE outbox SET lease_until = {}, claim_token = {}, attempts = attempts + 1 WHERE id IN (
             SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= {}
                AND (lease_until IS NULL OR lease_until < {}) ORDER BY next_attempt_at, id LIMIT {}{lock})
         RETURNING id, recipient, subject, body_text, body_html, attempts",
        p(1),
        p(2),
        p(3),
        p(4),
        p(5)
    );
    let claim = diesel::sql_query(query)
        .bind::<Timestamp, _>(now + lease)
        .bind::<Text, _>(token)
        .bind::<Timestamp, _>(now)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(batch);
    Ok(match conn {
        DbConnection::Postgresql(pg) => claim.load(pg)?,
        DbConnection::Sqlite(lite) => claim.load(lite)?,
    })
}

/// Renews the lease of one claimed row before it is sent, once less than half the lease is
/// left; false when the claim was lost (the lease ran out and another worker took the row), in
/// which case it is not sent here.
fn renew(conn: &mut DbConnection, id: &str, token: &str, lease: chrono::Duration) -> Result<bool, AppError> {
    let changed = diesel::update(
        outbox::table
            .filter(outbox::id.eq(id))
            .filter(outbox::claim_token.eq(token))
            .filter(outbox::status.eq("pending")),
    )
    .set(outbox::lease_until.eq(clock::now() + lease))
    .execute(conn)?;
    Ok(changed == 1)
}

fn message(settings: &EmailSettings, row: &Claimed) -> Result<Message, String> {
    let from: Mailbox = settings.from.parse().map_err(|e| format!("bad from address: {e}"))?;
    let to: Mailbox = row.recipient.parse().map_err(|e| format!("bad recipient: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(&row.subject)
        .message_id(Some(format!("<{}@community-shares>", row.id)))
        .multipart(MultiPart::alternative_plain_html(
            row.body_text.clone(),
            row.body_html.clone(),
        ))
        .map_err(|e| e.to_string())
}

/// Exponential backoff with ±20 % jitter: base × 2^(attempts − 1), at most an hour.
pub fn backoff(base_secs: u64, attempts: i32) -> chrono::Duration {
    let exponent = attempts.clamp(1, 16) as u32 - 1;
    let secs = (base_secs.max(1) as f64 * f64::from(2u32.pow(exponent))).min(3600.0);
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() {
        0.8 + 0.4 * f64::from(byte[0]) / 255.0
    } else {
        1.0
    };
    chrono::Duration::milliseconds((secs * jitter * 1000.0) as i64)
}

/// One pass of the worker: claims due emails, sends them, and records each outcome. No database
/// connection (nor SQLite writer turn) is held while a message is being sent, and an outcome is
/// written only by the claim that still holds the row. Returns how many were sent.
pub fn deliver_due(db: &Db, transport: &Transport, settings: &EmailSettings) -> Result<usize, AppError> {
    let lease = chrono::Duration::seconds(settings.lease_secs as i64);
    let token = clock::new_id();
    // The claim holds every row it took until at least then. Within the lease no one else
    // can take the rows, so a send that starts with half the lease or more left needs no
    // renewal first (one write transaction fewer per email).
    let held_until = clock::now() + lease;
    let claimed = {
        let token = token.clone();
        db.write_blocking(move |conn| claim(conn, 20, lease, &token))?
    };
    let mut sent = 0;
    for row in claimed {
        if clock::now() + lease / 2 > held_until {
            let (id, held_by) = (row.id.clone(), token.clone());
            if !db.write_blocking(move |conn| renew(conn, &id, &held_by, lease))? {
                continue;
            }
        }
        let outcome = message(settings, &row).and_then(|m| transport.send(&row.id, &m));
        let ours = outbox::table
            .filter(outbox::id.eq(row.id.clone()))
            .filter(outbox::claim_token.eq(token.clone()))
            .filter(outbox::status.eq("pending"));
        let now = clock::now();
        match outcome {
            Ok(()) => {
                db.write_blocking(move |conn| {
                    Ok(diesel::update(ours.clone())
                        .set((
                            outbox::status.eq("sent"),
                            outbox::sent_at.eq(now),
                            outbox::lease_until.eq(None::<chrono::NaiveDateTime>),
                        ))
                        .execute(conn)?)
                })?;
                sent += 1;
            }
            Err(error) => {
                let dead = row.attempts >= settings.max_attempts as i32;
                tracing::warn!(email = %row.id, attempts = row.attempts, dead, %error, "email not sent");
                let next_attempt_at = now + backoff(settings.retry_base_secs, row.attempts);
                db.write_blocking(move |conn| {
                    Ok(diesel::update(ours.clone())
                        .set((
                            outbox::status.eq(if dead { "dead" } else { "pending" }),
                            outbox::next_attempt_at.eq(next_attempt_at),
                            outbox::lease_until.eq(None::<chrono::NaiveDateTime>),
                            outbox::last_error.eq(error.clone()),
                        ))
                        .execute(conn)?)
                })?;
            }
        }
    }
    Ok(sent)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_an_hour() {
        for attempts in 1..=20 {
            let expected = (30.0 * 2f64.powi(attempts.min(16) - 1)).min(3600.0);
            let got = backoff(30, attempts).num_milliseconds() as f64 / 1000.0;
            assert!(
                got >= expected * 0.8 - 0.01 && got <= expected * 1.2 + 0.01,
                "{attempts}: {got}"
            );
        }
    }
}
