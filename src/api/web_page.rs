//! The investor page (`web/`): static files compiled into the binary and served by `serve`.
//! `index.html` is at `/` and is revalidated on every visit (ETag, `no-cache`); the other files
//! are under `/assets/<version>/`, where the version is a hash of all of them, so browsers keep
//! them for a year and a new release is fetched at once. Each file is gzip-compressed once, when
//! first asked for. The page holds no server-side state: it talks to the public API only.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::state::AppState;

/// The page's files, as compiled in. Adding a file to `web/` means adding it here.
const FILES: &[(&str, &str, &[u8])] = &[
    ("app.js", JS, include_bytes!("../../web/app.js")),
    ("api.js", JS, include_bytes!("../../web/api.js")),
    ("format.js", JS, include_bytes!("../../web/format.js")),
    ("ui.js", JS, include_bytes!("../../web/ui.js")),
    ("pages.js", JS, include_bytes!("../../web/pages.js")),
    ("card.js", JS, include_bytes!("../../web/card.js")),
    // The society console: loaded only for admins (app.js imports it on a console route).
    ("console.js", JS, include_bytes!("../../web/console.js")),
    ("console-money.js", JS, include_bytes!("../../web/console-money.js")),
    ("console-format.js", JS, include_bytes!("../../web/console-format.js")),
    // The funder console: loaded only on #/funder routes.
    ("funder.js", JS, include_bytes!("../../web/funder.js")),
    ("funder-format.js", JS, include_bytes!("../../web/funder-format.js")),
    // The platform console: loaded only on #/platform routes.
    ("platform.js", JS, include_bytes!("../../web/platform.js")),
    ("platform-format.js", JS, include_bytes!("../../web/platform-format.js")),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/style.css"),
    ),
    ("favicon.svg", "image/svg+xml", include_bytes!("../../web/favicon.svg")),
];
const INDEX: &str = include_str!("../../web/index.html");
const JS: &str = "text/javascript; charset=utf-8";
/// Where `index.html` says the assets are; replaced by `/assets/<version>`.
const ASSET_BASE_PLACEHOLDER: &str = "/assets/VERSION";

/// One file ready to serve: its bytes plain and gzipped, and an ETag for each.
struct Prepared {
    content_type: &'static str,
    plain: web::Bytes,
    gzip: web::Bytes,
    etag: String,
}

impl Prepared {
    fn new(content_type: &'static str, body: Vec<u8>) -> Self {
        let etag = format!("\"{}\"", &hex(&Sha256::digest(&body))[..20]);
        let gzip = gzip(&body);
        Self {
            content_type,
            plain: body.into(),
            gzip: gzip.into(),
            etag,
        }
    }
}

struct Site {
    version: String,
    index: Prepared,
    assets: HashMap<&'static str, Prepared>,
}

/// Hashes and compresses the page's files (a few milliseconds, once per process). `serve` calls
/// it before it starts listening, so no request pays for it.
pub fn prepare() {
    site();
}

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| {
        let mut all = Sha256::new();
        for (name, _, body) in FILES {
            all.update(name.as_bytes());
            all.update(body);
        }
        let version = hex(&all.finalize())[..12].to_owned();
        let index = INDEX.replace(ASSET_BASE_PLACEHOLDER, &format!("/assets/{version}"));
        Site {
            index: Prepared::new("text/html; charset=utf-8", index.into_bytes()),
            assets: FILES
                .iter()
                .map(|(name, content_type, body)| (*name, Prepared::new(content_type, body.to_vec())))
                .collect(),
            version,
        }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder
        .write_all(body)
        .and_then(|()| encoder.finish())
        .expect("compressing into memory cannot fail")
}

/// Whether the client takes gzip (`Accept-Encoding`, honouring `q=0`).
fn accepts_gzip(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').any(|part| {
        let mut pieces = part.split(';').map(str::trim);
        let coding = pieces.next().unwrap_or("");
        let refused = pieces.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// Whether the client's `If-None-Match` names `etag` (weak or strong).
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == "*" || t == etag)
        })
}

fn respond(req: &HttpRequest, file: &Prepared, cache_control: &'static str) -> HttpResponse {
    let gzip = accepts_gzip(req);
    // The two encodings are different representations, so they carry different tags.
    let etag = if gzip {
        format!("{}-gz\"", file.etag.trim_end_matches('"'))
    } else {
        file.etag.clone()
    };
    let mut response = if not_modified(req, &etag) {
        HttpResponse::NotModified().finish()
    } else if gzip {
        let mut ok = HttpResponse::Ok();
        ok.insert_header((header::CONTENT_ENCODING, "gzip"));
        ok.body(file.gzip.clone())
    } else {
        HttpResponse::Ok().body(file.plain.clone())
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// The Content-Security-Policy of the page: its own scripts and the API only, plus Stripe.js
/// when this server takes cards through it.
fn content_security_policy(stripe: bool) -> &'static str {
    if stripe {
        "default-src 'self'; script-src 'self' https://js.stripe.com; \
         frame-src https://js.stripe.com https://hooks.stripe.com; \
         connect-src 'self' https://api.stripe.com; img-src 'self' https://*.stripe.com; \
         style-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    } else {
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self'; style-src 'self'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    }
}

/// `GET /`: the page.
pub async fn index(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let stripe = crate::api::payments::stripe_js_key(&state).is_some();
    let mut response = respond(&req, &site().index, "no-cache");
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(content_security_policy(stripe)),
    );
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /assets/{version}/{file}`. A file asked for under an older version (a page loaded just
/// before a release, or another instance mid-upgrade) still gets today's file, but is not cached.
pub async fn asset(req: HttpRequest, path: web::Path<(String, String)>) -> Result<HttpResponse, AppError> {
    let (version, name) = path.into_inner();
    let site = site();
    let file = site.assets.get(name.as_str()).ok_or(AppError::NotFound("file"))?;
    let cache_control = if version == site.version {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok(respond(&req, file, cache_control))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn gzip_is_chosen_only_when_accepted() {
        let with = |v: &str| {
            accepts_gzip(
                &TestRequest::default()
                    .insert_header((header::ACCEPT_ENCODING, v))
                    .to_http_request(),
            )
        };
        assert!(with("gzip, deflate, br"));
        assert!(with("br;q=1.0, gzip;q=0.8"));
        assert!(with("*"));
        assert!(!with("gzip;q=0"));
        assert!(!with("br, deflate"));
        assert!(!accepts_gzip(&TestRequest::default().to_http_request()));
    }

    #[test]
    fn etags_match_weak_strong_and_lists() {
        let with = |v: &str| {
            not_modified(
                &TestRequest::default()
                    .insert_header((header::IF_NONE_MATCH, v))
                    .to_http_request(),
                "\"abc\"",
            )
        };
        assert!(with("\"abc\""));
        assert!(with("W/\"abc\""));
        assert!(with("\"x\", \"abc\""));
        assert!(with("*"));
        assert!(!with("\"abd\""));
    }

    #[test]
    fn the_index_points_at_versioned_assets_that_exist() {
        let site = site();
        let index = std::str::from_utf8(&site.index.plain).unwrap();
        assert!(!index.contains(ASSET_BASE_PLACEHOLDER));
        let prefix = format!("/assets/{}/", site.version);
        let named: Vec<&str> = index
            .match_indices(&prefix)
            .map(|(at, _)| {
                let rest = &index[at + prefix.len()..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect();
        assert!(named.contains(&"app.js") && named.contains(&"style.css"), "{named:?}");
        for name in named {
            assert!(
                site.assets.contains_key(name),
                "index.html names {name}, which is not served"
            );
        }
    }
}
