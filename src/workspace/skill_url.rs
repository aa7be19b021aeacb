//! Skills loaded from a web address (the Skills page's "import from link"):
//! a raw `SKILL.md`, a JSON export, a ZIP / `.skill` download, or a GitHub
//! repository, folder or `SKILL.md` page, which is fetched as the
//! repository's ZIP download and read for the skill folders it holds. The
//! download goes through the private-address guard and is bounded like an
//! upload; the packages come back for the import dialog to preview.

use std::time::Duration;

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

use super::skill_package::{parse_import_with, Discover, Package, MAX_IMPORT_BYTES};
use crate::db::skills::validate_path;
use crate::error::{ApiError, ApiResult};

/// What one download may take, redirects included.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where to download from, and for a GitHub address the folder of the
/// repository's archive to read (`""` for all of it).
pub fn import_source(url: &str) -> Result<(String, Option<String>), String> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).map_err(|_| NOT_HTTP.to_string())?;
    let host = parsed.host_str().unwrap_or("");
    if !matches!(parsed.scheme(), "http" | "https")
        || host.is_empty()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(NOT_HTTP.into());
    }
    if !host.eq_ignore_ascii_case("github.com") {
        return Ok((url.to_string(), None));
    }
    let parts: Vec<&str> = parsed.path().trim_matches('/').split('/').collect();
    let plain = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    if parts.len() < 2 || !parts[..2].iter().all(|p| plain(p)) {
        return Err(BAD_REPOSITORY.into());
    }
    let owner = parts[0];
    let repo = parts[1].strip_suffix(".git").unwrap_or(parts[1]);
    if repo.is_empty() {
        return Err(BAD_REPOSITORY.into());
    }
    let decode = |p: &str| percent_decode_str(p).decode_utf8_lossy().into_owned();
    let (reference, directory) =
        match parts.get(2).copied() {
            None => ("HEAD".to_string(), String::new()),
            // Release assets and raw files are downloads already.
            Some("archive" | "releases" | "raw") => return Ok((url.to_string(), None)),
            Some(kind @ ("tree" | "blob")) if parts.len() >= 4 => {
                let reference = decode(parts[3]);
                validate_path(&reference)?;
                let mut path = parts[4..].iter().map(|p| decode(p)).collect::<Vec<_>>();
                if kind == "blob" {
                    if path.last().map(String::as_str) != Some("SKILL.md") {
                        return Err("Pick a SKILL.md file or a folder holding skills".into());
                    }
                    path.pop();
                }
                let path = path.join("/");
                let directory = if path.is_empty() {
                    String::new()
                } else {
                    validate_path(&path)?;
                    format!("{path}/")
                };
                (reference, directory)
            }
            Some(_) => return Err(
                "Use the address of a GitHub repository, of a folder in it, or of a SKILL.md file"
                    .into(),
            ),
        };
    let reference = utf8_percent_encode(&reference, NON_ALPHANUMERIC);
    Ok((
        format!("https://codeload.github.com/{owner}/{repo}/zip/{reference}"),
        Some(directory),
    ))
}

const NOT_HTTP: &str = "Use an http(s) address without a user name or password in it";
const BAD_REPOSITORY: &str = "That is not the address of a GitHub repository";

/// Downloads `url` and reads the skills it holds.
pub async fn load(url: &str) -> ApiResult<Vec<Package>> {
    let (source, directory) = import_source(url).map_err(ApiError::bad_request)?;
    let got = crate::webfetch::get_guarded(&source, MAX_IMPORT_BYTES, TIMEOUT, true).await?;
    let media = got
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media == "text/html" {
        return Err(ApiError::bad_request(
            "That address is a web page; link to a raw SKILL.md, a JSON export or a ZIP / .skill download instead.",
        ));
    }
    let filename = if got.body.starts_with(b"PK") {
        "skills.zip".to_string()
    } else {
        match media.as_str() {
            "application/json" => "skills.json".to_string(),
            "text/markdown" => "SKILL.md".to_string(),
            _ => decode_last_segment(&got.url),
        }
    };
    let discover = Discover { directory };
    tokio::task::spawn_blocking(move || parse_import_with(&got.body, &filename, Some(&discover)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::bad_request)
}

fn decode_last_segment(url: &reqwest::Url) -> String {
    let last = url.path().rsplit('/').next().unwrap_or("");
    percent_decode_str(last).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_addresses_become_archive_downloads() {
        let (u, d) = import_source("https://github.com/acme/skills").unwrap();
        assert_eq!(u, "https://codeload.github.com/acme/skills/zip/HEAD");
        assert_eq!(d.as_deref(), Some(""));
        let (u, d) =
            import_source("https://github.com/acme/skills.git/tree/v1.2/pdf/forms").unwrap();
        assert_eq!(u, "https://codeload.github.com/acme/skills/zip/v1%2E2");
        assert_eq!(d.as_deref(), Some("pdf/forms/"));
        let (_, d) =
            import_source("https://github.com/acme/skills/blob/main/pdf/SKILL.md").unwrap();
        assert_eq!(d.as_deref(), Some("pdf/"));
        let (u, d) =
            import_source("https://github.com/acme/skills/releases/download/x.zip").unwrap();
        assert_eq!(
            (u.as_str(), d),
            (
                "https://github.com/acme/skills/releases/download/x.zip",
                None
            )
        );
    }

    #[test]
    fn bad_addresses_are_refused() {
        for bad in [
            "ftp://example.com/x.zip",
            "https://user:pw@example.com/x.zip",
            "https://github.com/acme",
            "https://github.com/../x",
            "https://github.com/acme/skills/blob/main/README.md",
            "https://github.com/acme/skills/issues",
            "https://github.com/acme/skills/tree/main/../../etc",
            "not a url",
        ] {
            assert!(import_source(bad).is_err(), "{bad}");
        }
        let (u, d) = import_source("https://example.com/skills/SKILL.md").unwrap();
        assert_eq!(
            (u.as_str(), d),
            ("https://example.com/skills/SKILL.md", None)
        );
    }
}
