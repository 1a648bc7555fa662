//! The transparency log's public API (anyone, no token): the latest signed checkpoint, entries,
//! inclusion and consistency proofs, the export `transparency verify` reads, and the funders'
//! witness cosignatures. See [`crate::transparency`].

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::access::FunderAdmin;
use super::extract::{Json, Query};
use super::problem::Problem;
use crate::error::AppError;
use crate::state::AppState;
use crate::transparency::store::{self, ConsistencyProof, InclusionProof};
use crate::transparency::verify::Export;

/// The latest signed checkpoint: a C2SP signed note (origin, tree size, base64 root hash, a
/// blank line, the log's signature line, then each witness's cosignature line). 404 before any
/// public money has moved.
#[utoipa::path(get, path = "/api/v1/transparency/checkpoint", tag = "transparency",
    responses(
        (status = 200, content_type = "text/plain", body = String,
            example = "localhost/community-shares/transparency\n12\nmX...=\n\n\u{2014} localhost/community-shares/transparency AbCd...\n"),
        (status = 404, description = "No checkpoint yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn checkpoint(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let note = state.db.run(store::latest_checkpoint).await?;
    let note = note.ok_or(AppError::NotFound("checkpoint"))?;
    Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(note))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntriesQuery {
    /// The first leaf index (default 0).
    #[param(minimum = 0)]
    start: Option<i64>,
    /// One past the last leaf index (default: the latest checkpoint's size); at most 1,000
    /// entries are returned.
    #[param(minimum = 0)]
    end: Option<i64>,
}

/// A page of entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entries {
    /// The latest checkpoint's size.
    pub tree_size: i64,
    pub entries: Vec<IndexedEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IndexedEntry {
    pub index: i64,
    /// The entry's bytes: canonical JSON (`v`, `transfer`, `kind`, `phase`, `pending`, `debit`,
    /// `credit`, `amount_pence`, `funder`, `fund`, `offer`, `investor` (a keyed hash), `at`).
    pub entry: String,
}

/// Entries of the tree by leaf index, oldest first.
#[utoipa::path(get, path = "/api/v1/transparency/entries", tag = "transparency", params(EntriesQuery),
    responses(
        (status = 200, body = Entries),
        (status = 422, description = "A negative `start` or `end`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn entries(state: web::Data<AppState>, query: Query<EntriesQuery>) -> Result<HttpResponse, AppError> {
    for (field, value) in [("start", query.start), ("end", query.end)] {
        if value.is_some_and(|v| v < 0) {
            return Err(AppError::field(field, "must be 0 or more"));
        }
    }
    let start = query.start.unwrap_or(0);
    let end = query.end.unwrap_or(i64::MAX);
    let page = state
        .db
        .run(move |conn| {
            let (tree_size, entries) = store::entries(conn, start, end)?;
            let entries = entries
                .into_iter()
                .map(|(index, entry)| IndexedEntry { index, entry })
                .collect();
            Ok(Entries { tree_size, entries })
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// The tree size the proof is for (default: the latest checkpoint's).
    #[param(minimum = 1)]
    tree_size: Option<i64>,
}

/// The proof that entry `index` is in the tree of `tree_size` (RFC 6962 audit path).
#[utoipa::path(get, path = "/api/v1/transparency/entries/{index}/inclusion", tag = "transparency",
    params(("index" = i64, Path, minimum = 0), InclusionQuery),
    responses(
        (status = 200, body = InclusionProof),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`index` or `tree_size` outside the tree", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn inclusion(
    state: web::Data<AppState>,
    index: web::Path<i64>,
    query: Query<InclusionQuery>,
) -> Result<HttpResponse, AppError> {
    let (index, size) = (index.into_inner(), query.tree_size);
    let proof = state
        .db
        .run(move |conn| {
            let size = match size {
                Some(size) => size,
                None => store::tree_size(conn)?,
            };
            store::inclusion(conn, index, size)
        })
        .await?;
    Ok(HttpResponse::Ok().json(proof))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size.
    #[param(minimum = 1)]
    from: i64,
    /// The newer tree size (default: the latest checkpoint's).
    #[param(minimum = 1)]
    to: Option<i64>,
}

/// The proof that the tree of `to` entries extends the tree of `from` (RFC 6962).
#[utoipa::path(get, path = "/api/v1/transparency/consistency", tag = "transparency", params(ConsistencyQuery),
    responses(
        (status = 200, body = ConsistencyProof),
        (status = 422, description = "A size outside the tree", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn consistency(state: web::Data<AppState>, query: Query<ConsistencyQuery>) -> Result<HttpResponse, AppError> {
    let (from, to) = (query.from, query.to);
    let proof = state
        .db
        .run(move |conn| {
            let to = match to {
                Some(to) => to,
                None => store::tree_size(conn)?,
            };
            store::consistency(conn, from, to)
        })
        .await?;
    Ok(HttpResponse::Ok().json(proof))
}

/// Everything `community-shares transparency verify` needs, in one document: every entry of
/// the latest checkpoint's tree, that checkpoint and every cosigned one, the log's key and the
/// funders' witness keys.
#[utoipa::path(get, path = "/api/v1/transparency/export", tag = "transparency",
    responses((status = 200, body = Export)))]
pub async fn export(state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let key = state.log_key.clone();
    let export = state.db.run(move |conn| store::export(conn, &key)).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            "Content-Disposition",
            "attachment; filename=\"transparency-export.json\"",
        ))
        .json(export))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CosignatureRequest {
    /// One of the log's checkpoints as the log signed it, with the witness's `cosignature/v1`
    /// line(s) added after the log's signature.
    #[schema(min_length = 1, max_length = 8192)]
    checkpoint: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CosignatureAccepted {
    pub tree_size: i64,
    /// The funders whose witness cosignatures were kept.
    pub funders: Vec<String>,
}

/// A funder's witness cosigns a checkpoint it has checked (consistent with the last it
/// cosigned). Anyone may send it: the signature is the credential, checked against the
/// witness key the funder registered.
#[utoipa::path(post, path = "/api/v1/transparency/cosignatures", tag = "transparency",
    request_body = CosignatureRequest,
    responses(
        (status = 201, body = CosignatureAccepted),
        (status = 404, description = "The log signed no checkpoint of that size", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not the log's checkpoint, a forged cosignature, or none from a registered witness", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cosign(state: web::Data<AppState>, body: Json<CosignatureRequest>) -> Result<HttpResponse, AppError> {
    let note = body.0.checkpoint;
    let (tree_size, funders) = state.db.write(move |conn| store::cosign(conn, &note)).await?;
    Ok(HttpResponse::Created().json(CosignatureAccepted { tree_size, funders }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct WitnessRequest {
    /// The witness's public key: a C2SP vkey of a `cosignature/v1` Ed25519 key
    /// (`<name>+<key id>+<base64>`, as `community-shares transparency witness-key` prints).
    #[schema(min_length = 1, max_length = 512)]
    key: String,
}

/// Sets the funder's witness key (a funder admin): from then on its cosignatures are accepted
/// and published with the checkpoints.
#[utoipa::path(put, path = "/api/v1/funders/{id}/witness", tag = "transparency", security(("bearer" = ["funder_admin"])),
    params(("id" = String, Path)), request_body = WitnessRequest,
    responses(
        (status = 204, description = "Set"),
        (status = 422, description = "Not a cosignature/v1 key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_witness(
    state: web::Data<AppState>,
    admin: FunderAdmin,
    body: Json<WitnessRequest>,
) -> Result<HttpResponse, AppError> {
    let key = body.0.key;
    let (funder_id, caller) = (admin.funder_id, admin.caller);
    state
        .db
        .write(move |conn| {
            store::set_witness(conn, &funder_id, &key)?;
            let detail = format!("set the funder's witness key to {}", key.trim());
            crate::services::audit::record(
                conn,
                &funder_id,
                caller.actor(),
                crate::domain::governance::AuditAction::WitnessKeySet,
                &detail,
            )
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
