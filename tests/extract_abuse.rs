//! Hostile documents through the real upload route: each ends as a failed
//! (or correctly read) file with a clear message, parsing happens in a
//! worker process the server survives whatever it does, and the server keeps
//! serving afterwards (sign-in and a list call).

mod common;
#[path = "data/support.rs"]
mod support;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use common::{Client, TestServer};
use serde_json::{json, Value};
use support::*;

const ADMIN: (&str, &str) = ("admin@example.com", "pass-admin-1");

/// The worker's test knob is read by the child from its environment; it is
/// set once, before any server of this binary starts a worker. Only files
/// named `worker-test-…` react to it.
fn enable_worker_knob() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var(open_webui::rag::extract::worker::TEST_KNOB, "1"));
}

struct Setup {
    server: TestServer,
    _mock: MockEmbed,
    _tmp: tempfile::TempDir,
    c: Client,
    admin: Client,
}

/// A server whose extraction workers have the given limits.
async fn setup(timeout: Duration, max_memory_mb: u64) -> Setup {
    enable_worker_knob();
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = common::settings_for(tmp.path(), Some("test-secret"));
    settings.extract.timeout = timeout;
    settings.extract.max_memory = max_memory_mb * 1024 * 1024;
    let server = TestServer::start(settings).await;
    let state = server.state.clone().unwrap();
    state
        .config
        .set_many(vec![
            ("openai.api_base_urls", json!([])),
            ("openai.api_keys", json!([])),
            ("ollama.enable", json!(false)),
        ])
        .await
        .unwrap();
    let mock = MockEmbed::start().await;
    let c = server.client();
    let admin = admin_with_embeddings(&c, &mock).await;
    Setup {
        server,
        _mock: mock,
        _tmp: tmp,
        c,
        admin,
    }
}

async fn default_setup() -> Setup {
    setup(Duration::from_secs(60), 2048).await
}

/// Uploads and waits for the end of processing; returns the file object.
async fn upload_and_wait(admin: &Client, name: &str, ct: &str, bytes: &[u8]) -> Value {
    let r = upload(admin, name, ct, bytes, None, "").await;
    assert_eq!(r.status, 200, "{name}: {}", r.body);
    wait_processed(admin, r.body["id"].as_str().unwrap()).await
}

async fn expect_failed(admin: &Client, name: &str, ct: &str, bytes: &[u8], want: &str) {
    let f = upload_and_wait(admin, name, ct, bytes).await;
    assert_eq!(f["data"]["status"], "failed", "{name}: {f}");
    let e = f["data"]["error"].as_str().unwrap_or("");
    assert!(e.contains(want), "{name}: {e:?} lacks {want:?}");
}

/// Sign-in works and the files list answers.
async fn still_serves(s: &Setup) {
    let admin = s.c.login(ADMIN.0, ADMIN.1).await;
    let r = admin.get("/api/v1/files/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(s.c.get("/health").await.status, 200);
}

#[tokio::test]
async fn self_parent_pdf_fails_cleanly() {
    let s = default_setup().await;
    // The page names itself as its parent and inherits everything, so a
    // parser looking up MediaBox/Resources would walk the loop for ever.
    let content = b"BT /F1 12 Tf 72 720 Td (loop) Tj ET";
    let pdf = support::pdf_of(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 3 0 R /Contents 4 0 R >>".to_vec(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).as_bytes(),
            content,
            b"\nendstream",
        ]
        .concat(),
    ]);
    assert!(pdf.len() < 500, "{}", pdf.len());
    expect_failed(&s.admin, "loop.pdf", "application/pdf", &pdf, "loops back").await;
    still_serves(&s).await;
}

#[tokio::test]
async fn pdf_flate_bomb_fails_cleanly() {
    let s = default_setup().await;
    // 16 MB of zeros in ~16 KB, listed 40 times by the page: 640 MB unpacked.
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![b' '; 16 * 1024 * 1024]).unwrap();
    let packed = z.finish().unwrap();
    assert!(packed.len() < 100_000);
    let refs = vec!["4 0 R"; 40].join(" ");
    let pdf = support::pdf_of(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [{refs}] >>")
            .into_bytes(),
        [
            format!(
                "<< /Length {} /Filter /FlateDecode >>\nstream\n",
                packed.len()
            )
            .as_bytes(),
            &packed,
            b"\nendstream",
        ]
        .concat(),
    ]);
    expect_failed(
        &s.admin,
        "bomb.pdf",
        "application/pdf",
        &pdf,
        "expand to more than",
    )
    .await;
    still_serves(&s).await;
}

#[tokio::test]
async fn pdf_quote_operators_are_extracted() {
    let s = default_setup().await;
    let content =
        b"BT /F1 12 Tf 72 720 Td 14 TL (Quoted lighthouse keepers) ' 2 0 (wave at ships) \" ET";
    let pdf = support::pdf_of(&[
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_vec(),
        [
            format!("<< /Length {} >>\nstream\n", content.len()).as_bytes(),
            content.as_slice(),
            b"\nendstream",
        ]
        .concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ]);
    let f = upload_and_wait(&s.admin, "quotes.pdf", "application/pdf", &pdf).await;
    assert_eq!(f["data"]["status"], "completed", "{f}");
    let id = f["id"].as_str().unwrap();
    let t = s
        .admin
        .get(&format!("/api/v1/files/{id}/data/content"))
        .await;
    let text = t.body["content"].as_str().unwrap_or("");
    assert!(
        text.contains("lighthouse keepers") && text.contains("wave at ships"),
        "{text:?}"
    );
}

#[tokio::test]
async fn broken_archives_and_wrong_magic_fail_cleanly() {
    let s = default_setup().await;
    let mut truncated = docx(&["A paragraph that will be cut off in the middle."]);
    truncated.truncate(truncated.len() / 2);
    expect_failed(
        &s.admin,
        "cut.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        &truncated,
        "not a valid Office/EPUB archive",
    )
    .await;
    // A PNG named .pdf.
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82";
    expect_failed(
        &s.admin,
        "photo.pdf",
        "application/pdf",
        png,
        "Could not read the PDF",
    )
    .await;
    // An xlsx whose one sheet unpacks to 80 MB.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("xl/worksheets/sheet1.xml", opts).unwrap();
    w.write_all(&vec![b' '; 80 * 1024 * 1024]).unwrap();
    let xlsx = w.finish().unwrap().into_inner();
    assert!(xlsx.len() < 1_000_000);
    expect_failed(
        &s.admin,
        "bomb.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &xlsx,
        "unpacked",
    )
    .await;
    expect_failed(
        &s.admin,
        "bomb.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        &docx_bomb(80),
        "unpacked",
    )
    .await;
    still_serves(&s).await;
}

#[tokio::test]
async fn deep_nesting_and_huge_lines_end_cleanly() {
    let s = default_setup().await;
    let depth = 200_000;
    // Laid out, 50,000 nested divs took minutes; past a depth the plain tag
    // stripper reads them instead.
    let html = format!(
        "<html><body>{}deep treasure{}</body></html>",
        "<div>".repeat(50_000),
        "</div>".repeat(50_000)
    );
    let xml = format!(
        "<?xml version=\"1.0\"?>{}buried words{}",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    );
    for (name, ct, bytes, word) in [
        ("deep.html", "text/html", html.into_bytes(), "deep treasure"),
        (
            "deep.xml",
            "application/xml",
            xml.into_bytes(),
            "buried words",
        ),
    ] {
        let f = upload_and_wait(&s.admin, name, ct, &bytes).await;
        match f["data"]["status"].as_str() {
            Some("completed") => {
                let id = f["id"].as_str().unwrap();
                let t = s
                    .admin
                    .get(&format!("/api/v1/files/{id}/data/content"))
                    .await;
                let text = t.body["content"].as_str().unwrap_or("");
                assert!(
                    text.contains(word),
                    "{name}: {:?}",
                    &text[..text.len().min(200)]
                );
            }
            Some("failed") => {
                let e = f["data"]["error"].as_str().unwrap_or("");
                assert!(e.contains("nested too deeply"), "{name}: {e}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // One 3 MB line without a single newline.
    let line = "lorem ".repeat(500_000);
    let f = upload_and_wait(&s.admin, "line.txt", "text/plain", line.as_bytes()).await;
    assert_eq!(f["data"]["status"], "completed", "{}", f["data"]);
    still_serves(&s).await;
}

/// The worker's misbehaviour modes: each is contained by the process
/// boundary and its limits, and named in the file's error.
#[tokio::test]
async fn a_crashing_parser_is_contained_in_the_worker() {
    // The memory limit covers the whole address space, the mapped (debug)
    // executable included.
    let s = setup(Duration::from_secs(3), 1024).await;
    let cases = [
        ("worker-test-abort.txt", "the parser crashed"),
        ("worker-test-overflow.txt", "ran out of stack"),
        ("worker-test-alloc.txt", "more than 1024 MB of memory"),
        ("worker-test-flood.txt", "more text than allowed"),
        ("worker-test-spin.txt", "3 s"),
    ];
    for (name, want) in cases {
        expect_failed(&s.admin, name, "text/plain", b"harmless words", want).await;
    }
    // The same words under an ordinary name are read normally.
    let f = upload_and_wait(&s.admin, "normal.txt", "text/plain", b"harmless words").await;
    assert_eq!(f["data"]["status"], "completed", "{f}");
    still_serves(&s).await;
    let count = s.admin.get("/api/v1/files/count").await.body;
    assert_eq!(count, json!(6));
    drop(s.server);
}

#[tokio::test]
async fn bytes_in_memory_are_parsed_in_a_worker_too() {
    enable_worker_knob();
    let w = open_webui::rag::extract::WorkerSettings {
        exe: Some(PathBuf::from(env!("CARGO_BIN_EXE_open-webui"))),
        timeout: Duration::from_secs(20),
        max_memory: 1024 * 1024 * 1024,
    };
    let html = b"<html><body><h1>Harbour</h1><p>Boats &amp; nets</p></body></html>".to_vec();
    let t = open_webui::rag::extract::extract_bytes_isolated(&w, html, "page.html", None)
        .await
        .unwrap();
    assert!(t.contains("Harbour") && t.contains("Boats & nets"), "{t}");
    let e = open_webui::rag::extract::extract_bytes_isolated(
        &w,
        b"anything".to_vec(),
        "worker-test-abort.html",
        None,
    )
    .await
    .unwrap_err();
    assert!(e.0.contains("crashed"), "{e}");
    // A worker path that is not a worker is reported, not misread.
    let not_worker = open_webui::rag::extract::WorkerSettings {
        exe: Some(PathBuf::from("/bin/echo")),
        ..w
    };
    let e =
        open_webui::rag::extract::extract_bytes_isolated(&not_worker, b"x".to_vec(), "a.txt", None)
            .await
            .unwrap_err();
    assert!(e.0.contains("unavailable"), "{e}");
}
