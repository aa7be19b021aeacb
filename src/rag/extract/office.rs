//! Zip-based formats (docx, pptx, xlsx, epub) and plain XML.

use std::io::{Cursor, Read};

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{err, ExtractError, Limits};

type Zip<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

fn open_zip(bytes: &[u8]) -> Result<Zip<'_>, ExtractError> {
    zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| err(format!("The file is not a valid Office/EPUB archive: {e}")))
}

fn too_big(limits: &Limits) -> ExtractError {
    err(format!(
        "The document expands to more than {} MB when unpacked and was not processed.",
        limits.max_unpacked / (1024 * 1024)
    ))
}

/// Reads one archive member, charging its size to `budget`. `None` when the
/// member does not exist.
fn read_member(
    zip: &mut Zip<'_>,
    name: &str,
    budget: &mut u64,
    limits: &Limits,
) -> Result<Option<Vec<u8>>, ExtractError> {
    let mut f = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(err(format!("Damaged archive member {name}: {e}"))),
    };
    if f.size() > *budget {
        return Err(too_big(limits));
    }
    let mut buf = Vec::new();
    (&mut f)
        .take(*budget + 1)
        .read_to_end(&mut buf)
        .map_err(|e| err(format!("Damaged archive member {name}: {e}")))?;
    if buf.len() as u64 > *budget {
        return Err(too_big(limits));
    }
    *budget -= buf.len() as u64;
    Ok(Some(buf))
}

/// Sum of the members' declared sizes (a cheap first bomb check before a
/// third-party reader unpacks everything).
fn declared_total(zip: &mut Zip<'_>) -> u64 {
    let mut total = 0u64;
    for i in 0..zip.len() {
        if let Ok(f) = zip.by_index(i) {
            total = total.saturating_add(f.size());
        }
    }
    total
}

fn local(name: &str) -> &str {
    match name.rfind(':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// Text content of an XML document. Elements named in `paragraphs` end a line;
/// `tab`/`br`/`cr` become a tab or a line break; with no paragraph names every
/// closing element separates words.
pub fn xml_text(bytes: &[u8], paragraphs: &[&str]) -> Result<String, quick_xml::Error> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = false;
    let mut out = String::new();
    let mut buf = Vec::new();
    let mut skip_depth = 0usize;
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Eof => break,
            Event::Start(e) => {
                let n = local(e.name().as_ref()).to_ascii_lowercase();
                if skip_depth > 0 || n == "script" || n == "style" {
                    skip_depth += 1;
                }
            }
            Event::End(e) => {
                if skip_depth > 0 {
                    skip_depth -= 1;
                    continue;
                }
                let n = local(e.name().as_ref()).to_ascii_lowercase();
                if paragraphs.is_empty() {
                    if !out.ends_with(char::is_whitespace) && !out.is_empty() {
                        out.push('\n');
                    }
                } else if paragraphs.contains(&n.as_str()) {
                    out.push('\n');
                } else if n == "tc" {
                    out.push('\t');
                }
            }
            Event::Empty(e) => {
                if skip_depth > 0 {
                    continue;
                }
                match local(e.name().as_ref()) {
                    "tab" => out.push('\t'),
                    "br" | "cr" => out.push('\n'),
                    _ => {}
                }
            }
            Event::Text(t) if skip_depth == 0 => {
                out.push_str(&t);
            }
            Event::CData(t) if skip_depth == 0 => {
                out.push_str(&t);
            }
            Event::GeneralRef(r) if skip_depth == 0 => {
                if let Ok(Some(ch)) = r.resolve_char_ref() {
                    out.push(ch);
                } else {
                    let name = r.to_string();
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => out.push_str(s),
                        None => {
                            out.push('&');
                            out.push_str(&name);
                            out.push(';');
                        }
                    }
                }
            }
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// Last-resort tag stripper for HTML the converter rejects.
pub fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

pub fn docx(bytes: &[u8], limits: &Limits) -> Result<String, ExtractError> {
    let mut zip = open_zip(bytes)?;
    let mut budget = limits.max_unpacked;
    let doc = read_member(&mut zip, "word/document.xml", &mut budget, limits)?
        .ok_or_else(|| err("The file is not a Word document (word/document.xml is missing)."))?;
    let mut text =
        xml_text(&doc, &["p"]).map_err(|e| err(format!("Damaged Word document: {e}")))?;
    // Footnotes and endnotes carry text too.
    for extra in ["word/footnotes.xml", "word/endnotes.xml"] {
        if let Some(x) = read_member(&mut zip, extra, &mut budget, limits)? {
            if let Ok(t) = xml_text(&x, &["p"]) {
                if !t.trim().is_empty() {
                    text.push('\n');
                    text.push_str(&t);
                }
            }
        }
    }
    Ok(text)
}

fn numbered_members(zip: &Zip<'_>, prefix: &str, suffix: &str) -> Vec<String> {
    let mut names: Vec<(u32, String)> = zip
        .file_names()
        .filter_map(|n| {
            let n = n.ok()?;
            let num = n.strip_prefix(prefix)?.strip_suffix(suffix)?;
            num.parse::<u32>().ok().map(|i| (i, n.to_string()))
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

pub fn pptx(bytes: &[u8], limits: &Limits) -> Result<String, ExtractError> {
    let mut zip = open_zip(bytes)?;
    let mut budget = limits.max_unpacked;
    let slides = numbered_members(&zip, "ppt/slides/slide", ".xml");
    if slides.is_empty() {
        return Err(err(
            "The file is not a PowerPoint presentation (no slides found).",
        ));
    }
    let mut out = String::new();
    for (i, name) in slides.iter().enumerate() {
        let Some(x) = read_member(&mut zip, name, &mut budget, limits)? else {
            continue;
        };
        let t = xml_text(&x, &["p"]).map_err(|e| err(format!("Damaged slide {}: {e}", i + 1)))?;
        if !t.trim().is_empty() {
            out.push_str(&format!("Slide {}\n{}\n", i + 1, t.trim_end()));
        }
    }
    Ok(out)
}

pub fn spreadsheet(bytes: &[u8], limits: &Limits) -> Result<String, ExtractError> {
    use calamine::Reader as _;
    if bytes.starts_with(b"PK") {
        let mut zip = open_zip(bytes)?;
        if declared_total(&mut zip) > limits.max_unpacked {
            return Err(too_big(limits));
        }
    }
    let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| err(format!("Could not read the spreadsheet: {e}")))?;
    let mut out = String::new();
    let mut size = 0usize;
    for name in book.sheet_names() {
        let range = match book.worksheet_range(&name) {
            Ok(r) => r,
            Err(e) => return Err(err(format!("Could not read sheet {name}: {e}"))),
        };
        out.push_str(&format!("Sheet: {name}\n"));
        for row in range.rows() {
            let line = row
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(",");
            if line.trim_matches(',').is_empty() {
                continue;
            }
            size += line.len() + 1;
            if size as u64 > limits.max_unpacked {
                return Err(too_big(limits));
            }
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
    Ok(out)
}

fn attr(e: &quick_xml::events::BytesStart<'_>, key: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find_map(|a| (local(a.key.as_ref()) == key).then(|| a.value.to_string()))
}

/// `(manifest id → href, spine order)` of an OPF package document.
fn opf_spine(opf: &[u8]) -> (Vec<(String, String)>, Vec<String>) {
    let mut reader = Reader::from_reader(opf);
    let mut buf = Vec::new();
    let mut manifest = Vec::new();
    let mut spine = Vec::new();
    while let Ok(ev) = reader.read_event_into(&mut buf) {
        match ev {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => match local(e.name().as_ref()) {
                "item" => {
                    if let (Some(id), Some(href)) = (attr(&e, "id"), attr(&e, "href")) {
                        manifest.push((id, href));
                    }
                }
                "itemref" => {
                    if let Some(id) = attr(&e, "idref") {
                        spine.push(id);
                    }
                }
                _ => {}
            },
            _ => {}
        }
        buf.clear();
    }
    (manifest, spine)
}

pub fn epub(bytes: &[u8], limits: &Limits) -> Result<String, ExtractError> {
    let mut zip = open_zip(bytes)?;
    let mut budget = limits.max_unpacked;
    let mut chapters: Vec<String> = Vec::new();
    if let Some(container) = read_member(&mut zip, "META-INF/container.xml", &mut budget, limits)? {
        let mut reader = Reader::from_reader(container.as_slice());
        let mut buf = Vec::new();
        let mut opf_path = None;
        while let Ok(ev) = reader.read_event_into(&mut buf) {
            match ev {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) if local(e.name().as_ref()) == "rootfile" => {
                    opf_path = attr(&e, "full-path");
                    break;
                }
                _ => {}
            }
            buf.clear();
        }
        if let Some(opf_path) = opf_path {
            if let Some(opf) = read_member(&mut zip, &opf_path, &mut budget, limits)? {
                let base = match opf_path.rfind('/') {
                    Some(i) => opf_path[..=i].to_string(),
                    None => String::new(),
                };
                let (manifest, spine) = opf_spine(&opf);
                for id in spine {
                    if let Some((_, href)) = manifest.iter().find(|(mid, _)| *mid == id) {
                        let href = href.split('#').next().unwrap_or("");
                        chapters.push(format!(
                            "{base}{}",
                            percent_encoding::percent_decode_str(href).decode_utf8_lossy()
                        ));
                    }
                }
            }
        }
    }
    if chapters.is_empty() {
        let mut names: Vec<String> = zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .filter(|n| {
                let l = n.to_ascii_lowercase();
                l.ends_with(".xhtml") || l.ends_with(".html") || l.ends_with(".htm")
            })
            .collect();
        names.sort();
        chapters = names;
    }
    if chapters.is_empty() {
        return Err(err("The file is not an EPUB book (no chapters found)."));
    }
    let mut out = String::new();
    for name in chapters {
        if let Some(x) = read_member(&mut zip, &name, &mut budget, limits)? {
            let t = super::html_to_text(&x);
            if !t.trim().is_empty() {
                out.push_str(t.trim_end());
                out.push_str("\n\n");
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn make_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn docx_paragraphs_and_entities() {
        let doc = br#"<?xml version="1.0"?><w:document xmlns:w="x"><w:body><w:p><w:r><w:t>Tom &amp; Jerry</w:t></w:r></w:p><w:p><w:r><w:t>second</w:t><w:tab/><w:t>col</w:t></w:r></w:p></w:body></w:document>"#;
        let z = make_zip(&[("word/document.xml", doc)]);
        let t = docx(&z, &Limits::default()).unwrap();
        assert_eq!(t, "Tom & Jerry\nsecond\tcol\n");
    }

    #[test]
    fn zip_bomb_is_refused() {
        let big = vec![b' '; 8 * 1024 * 1024];
        let z = make_zip(&[("word/document.xml", &big)]);
        assert!(z.len() < 200_000);
        let limits = Limits {
            max_unpacked: 1024 * 1024,
            ..Limits::default()
        };
        let e = docx(&z, &limits).unwrap_err();
        assert!(e.0.contains("unpacked"), "{e}");
    }

    #[test]
    fn pptx_slides_in_order() {
        let s = |t: &str| {
            format!(
                r#"<p:sld xmlns:p="p" xmlns:a="a"><a:p><a:r><a:t>{t}</a:t></a:r></a:p></p:sld>"#
            )
        };
        let (s1, s2, s10) = (s("one"), s("two"), s("ten"));
        let z = make_zip(&[
            ("ppt/slides/slide10.xml", s10.as_bytes()),
            ("ppt/slides/slide2.xml", s2.as_bytes()),
            ("ppt/slides/slide1.xml", s1.as_bytes()),
        ]);
        let t = pptx(&z, &Limits::default()).unwrap();
        let (a, b, c) = (
            t.find("one").unwrap(),
            t.find("two").unwrap(),
            t.find("ten").unwrap(),
        );
        assert!(a < b && b < c, "{t}");
    }

    #[test]
    fn epub_follows_the_spine() {
        let container = br#"<container><rootfiles><rootfile full-path="OEBPS/content.opf"/></rootfiles></container>"#;
        let opf = br#"<package><manifest><item id="b" href="b.xhtml"/><item id="a" href="a.xhtml"/></manifest><spine><itemref idref="a"/><itemref idref="b"/></spine></package>"#;
        let z = make_zip(&[
            ("META-INF/container.xml", container),
            ("OEBPS/content.opf", opf),
            (
                "OEBPS/b.xhtml",
                b"<html><body><p>Second chapter</p></body></html>",
            ),
            (
                "OEBPS/a.xhtml",
                b"<html><body><p>First chapter</p></body></html>",
            ),
        ]);
        let t = epub(&z, &Limits::default()).unwrap();
        assert!(t.find("First").unwrap() < t.find("Second").unwrap(), "{t}");
    }

    #[test]
    fn xlsx_sheets_as_rows() {
        let ct = br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;
        let rels = br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;
        let wb = br#"<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Prices" sheetId="1" r:id="rId1"/></sheets></workbook>"#;
        let wbrels = br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;
        let sheet = br#"<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Fruit</t></is></c><c r="B1" t="inlineStr"><is><t>Price</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>Mango</t></is></c><c r="B2"><v>3.5</v></c></row></sheetData></worksheet>"#;
        let z = make_zip(&[
            ("[Content_Types].xml", ct),
            ("_rels/.rels", rels),
            ("xl/workbook.xml", wb),
            ("xl/_rels/workbook.xml.rels", wbrels),
            ("xl/worksheets/sheet1.xml", sheet),
        ]);
        let t = spreadsheet(&z, &Limits::default()).unwrap();
        assert!(
            t.contains("Sheet: Prices") && t.contains("Fruit,Price") && t.contains("Mango,3.5"),
            "{t}"
        );
    }

    #[test]
    fn not_a_zip() {
        assert!(docx(b"PK\x03\x04garbage", &Limits::default()).is_err());
    }
}
