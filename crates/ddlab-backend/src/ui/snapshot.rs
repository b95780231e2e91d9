//! Graph snapshots as files: the chart SVG rasterised to PNG (resvg, with the system's fonts, DejaVu Sans
//! from the OS package `fonts-dejavu-core` first), kept under `<state_dir>/snapshots/<date>/<token>.png`
//! and served at `/snapshot/view/dd-snapshots-lab/org_1/<date>/<token>.png` without keys: the 128-bit
//! random token is what makes the URL private, as Datadog's snapshot URLs are.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use resvg::{tiny_skia, usvg};

use crate::AppState;

/// The snapshots' folder inside the state folder.
pub(crate) const SNAPSHOT_DIR: &str = "snapshots";
/// The fixed part of a snapshot's path, shaped like Datadog's (`dd-snapshots-prod/org_<id>/`).
const BUCKET: &str = "dd-snapshots-lab/org_1";
/// The fonts snapshots are drawn with, looked up in the system's font folders.
const SANS: &str = "DejaVu Sans";

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error("the chart's SVG could not be read: {0}")]
    Svg(String),
    #[error("a {width}×{height} snapshot cannot be drawn")]
    Size { width: u32, height: u32 },
    #[error("the PNG could not be encoded: {0}")]
    Png(String),
    #[error("the snapshot could not be written to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("no random token could be drawn: {0}")]
    Random(String),
}

/// The system's fonts, read once: loading them takes tens of milliseconds.
fn fonts() -> Arc<usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    Arc::clone(FONTS.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        db.set_sans_serif_family(SANS);
        if db.is_empty() {
            tracing::warn!(
                "No system fonts were found: snapshots will have no text. Install fonts-dejavu-core."
            );
        }
        Arc::new(db)
    }))
}

/// An SVG drawn on white as PNG bytes, at the SVG's own size.
pub(crate) fn rasterize(svg: &str) -> Result<Vec<u8>, SnapshotError> {
    let options = usvg::Options {
        font_family: SANS.to_owned(),
        fontdb: fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options).map_err(|err| SnapshotError::Svg(err.to_string()))?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or(SnapshotError::Size {
        width: size.width(),
        height: size.height(),
    })?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
        .encode_png()
        .map_err(|err| SnapshotError::Png(err.to_string()))
}

/// Writes a PNG under `dir` for `date` (`YYYY-MM-DD`) and returns its URL path after `/snapshot/view/`.
pub(crate) fn save(dir: &Path, date: &str, png: &[u8]) -> Result<String, SnapshotError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|err| SnapshotError::Random(err.to_string()))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let folder = dir.join(date);
    crate::private::create_dir_all(&folder).map_err(|source| SnapshotError::Write {
        path: folder.clone(),
        source,
    })?;
    let path = folder.join(format!("{token}.png"));
    crate::private::write(&path, png).map_err(|source| SnapshotError::Write { path, source })?;
    Ok(format!("{BUCKET}/{date}/{token}.png"))
}

/// The file of a snapshot's URL path (`dd-snapshots-lab/org_1/<date>/<token>[.png]`), if the path is one
/// this lab hands out. Nothing else is ever read: no `..`, no other folders.
pub(crate) fn resolve(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let rest = url_path.strip_prefix(BUCKET)?.strip_prefix('/')?;
    let (date, file) = rest.split_once('/')?;
    let token = file.strip_suffix(".png").unwrap_or(file);
    let date_ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let token_ok = token.len() == 32 && token.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (date_ok && token_ok).then(|| dir.join(date).join(format!("{token}.png")))
}

/// `GET /snapshot/view/{path}`: the PNG, without keys.
pub(crate) async fn view(State(state): State<AppState>, UrlPath(path): UrlPath<String>) -> Response {
    let Some(file) = resolve(&state.ui.snapshot_dir, &path) else {
        return (StatusCode::NOT_FOUND, "No such snapshot").into_response();
    };
    match tokio::task::spawn_blocking(move || std::fs::read(file)).await {
        Ok(Ok(bytes)) => (
            [
                (header::CONTENT_TYPE, "image/png"),
                (header::CACHE_CONTROL, "private, max-age=86400"),
            ],
            bytes,
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "No such snapshot").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_this_lab_hands_out_resolve() {
        let dir = Path::new("/state/snapshots");
        let token = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            resolve(dir, &format!("dd-snapshots-lab/org_1/2024-05-01/{token}.png")),
            Some(dir.join("2024-05-01").join(format!("{token}.png")))
        );
        // datadogpy's Graph.status drops the extension.
        assert!(resolve(dir, &format!("dd-snapshots-lab/org_1/2024-05-01/{token}")).is_some());
        for bad in [
            format!("dd-snapshots-lab/org_1/../../keys.json/{token}.png"),
            format!("dd-snapshots-lab/org_1/2024-05-01/../{token}.png"),
            "dd-snapshots-lab/org_1/2024-05-01/notatoken.png".to_owned(),
            format!("other/org_1/2024-05-01/{token}.png"),
            format!("dd-snapshots-lab/org_1/2024-05-01/{}.png", token.to_uppercase()),
        ] {
            assert_eq!(resolve(dir, &bad), None, "{bad}");
        }
    }

    #[test]
    fn svg_becomes_a_png_of_its_size() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40"><rect x="0" y="0" width="60" height="40" fill="#6f4fc9"/><text x="70" y="25" font-size="12">ok</text></svg>"##;
        let png = rasterize(svg).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoded = tiny_skia::Pixmap::decode_png(&png).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (120, 40));
        // The rectangle is drawn in its colour, the rest is white.
        let left = decoded.pixel(10, 10).unwrap();
        assert_eq!((left.red(), left.green(), left.blue()), (0x6f, 0x4f, 0xc9));
        let right = decoded.pixel(118, 2).unwrap();
        assert_eq!((right.red(), right.green(), right.blue()), (255, 255, 255));
        assert!(matches!(rasterize("<svg"), Err(SnapshotError::Svg(_))));
    }
}
