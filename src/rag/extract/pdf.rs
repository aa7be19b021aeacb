//! PDF text through pdf-extract, with the structure checked first.
//!
//! pdf-extract follows `/Parent` links and form XObjects recursively and
//! concatenates every content stream a page lists, so a page that names
//! itself as its parent, a form that draws itself, or one compressed stream
//! listed a thousand times would overflow the stack or exhaust memory. The
//! checks below refuse such files with a message before the parser sees
//! them (the extraction worker process is the second line of defence).
//!
//! pdf-extract also ignores the `'` and `"` text operators; pages that use
//! them are rewritten to the equivalent `T*`/`Tw`/`Tc`/`Tj` sequence first.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use pdf_extract::content::{Content, Operation};
use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

use super::{err, ExtractError, Limits};

/// Page-tree levels and `/Parent` hops accepted (real files use a handful).
const MAX_TREE_DEPTH: usize = 256;
/// Form XObjects drawn inside each other.
const MAX_FORM_DEPTH: usize = 24;

pub fn pdf_text(bytes: &[u8], limits: &Limits) -> Result<String, ExtractError> {
    let mut doc =
        Document::load_mem(bytes).map_err(|e| err(format!("Could not read the PDF: {e}")))?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(err(
            "The PDF is password-protected; its text cannot be read.",
        ));
    }
    check_page_tree(&doc)?;
    let pages = doc.get_pages();
    check_content_size(&doc, &pages, limits)?;
    check_forms(&doc, &pages)?;
    for id in pages.values() {
        rewrite_quote_operators(&mut doc, *id);
    }
    let mut texts = Vec::new();
    let mut first_error = None;
    for n in pages.keys() {
        let mut s = String::new();
        let mut out = pdf_extract::PlainTextOutput::new(&mut s);
        match pdf_extract::output_doc_page(&doc, &mut out, *n) {
            Ok(()) => {
                let t = s.trim();
                if !t.is_empty() {
                    texts.push(t.to_string());
                }
            }
            Err(e) => {
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    match (texts.is_empty(), first_error) {
        (true, Some(e)) => Err(err(format!("Could not read the PDF: {e}"))),
        _ => Ok(texts.join("\n\n")),
    }
}

fn dict_ref<'a>(doc: &'a Document, d: &'a Dictionary, key: &[u8]) -> Option<&'a Dictionary> {
    d.get_deref(key, doc).ok()?.as_dict().ok()
}

/// The page tree must be a tree: no node reached twice from the root, no
/// `/Parent` chain that loops, and a bounded depth either way.
fn check_page_tree(doc: &Document) -> Result<(), ExtractError> {
    let cycle = || err("The PDF's page tree loops back on itself; the file is damaged or hostile.");
    let deep = || err("The PDF's page tree is nested too deeply.");
    let root = doc
        .catalog()
        .ok()
        .and_then(|c| c.get(b"Pages").ok())
        .and_then(|p| p.as_reference().ok());
    if let Some(root) = root {
        let mut seen: HashSet<ObjectId> = HashSet::new();
        let mut stack = vec![(root, 0usize)];
        while let Some((id, depth)) = stack.pop() {
            if depth > MAX_TREE_DEPTH {
                return Err(deep());
            }
            if !seen.insert(id) {
                return Err(cycle());
            }
            let Ok(node) = doc.get_dictionary(id) else {
                continue;
            };
            if let Ok(kids) = node.get_deref(b"Kids", doc).and_then(Object::as_array) {
                for kid in kids {
                    if let Ok(k) = kid.as_reference() {
                        stack.push((k, depth + 1));
                    }
                }
            }
        }
    }
    for page in doc.page_iter() {
        let mut seen = HashSet::new();
        let mut id = page;
        loop {
            if !seen.insert(id) {
                return Err(cycle());
            }
            if seen.len() > MAX_TREE_DEPTH {
                return Err(deep());
            }
            let next = doc
                .get_dictionary(id)
                .ok()
                .and_then(|d| d.get(b"Parent").ok())
                .and_then(|p| p.as_reference().ok());
            match next {
                Some(p) => id = p,
                None => break,
            }
        }
    }
    Ok(())
}

/// Decompressed size of a stream, reading at most `cap + 1` bytes.
fn unpacked_size(stream: &Stream, cap: u64) -> u64 {
    let filters = stream.dict.get(b"Filter").ok().map(|f| match f {
        Object::Name(n) => vec![n.as_slice()],
        Object::Array(a) => a.iter().filter_map(|x| x.as_name().ok()).collect(),
        _ => vec![],
    });
    match filters.as_deref() {
        Some([f]) if *f == b"FlateDecode" || *f == b"Fl" => {
            let d = flate2::read::ZlibDecoder::new(stream.content.as_slice());
            std::io::copy(&mut d.take(cap + 1), &mut std::io::sink()).unwrap_or(0)
        }
        _ => stream.content.len() as u64,
    }
}

/// What pdf-extract would decompress for each page stays within the unpack
/// budget, counting a stream listed several times once per listing.
fn check_content_size(
    doc: &Document,
    pages: &std::collections::BTreeMap<u32, ObjectId>,
    limits: &Limits,
) -> Result<(), ExtractError> {
    let mut sizes: HashMap<ObjectId, u64> = HashMap::new();
    let mut total = 0u64;
    for id in pages.values() {
        for sid in doc.get_page_contents(*id) {
            let size = match sizes.get(&sid) {
                Some(s) => *s,
                None => {
                    let s = doc
                        .get_object(sid)
                        .and_then(Object::as_stream)
                        .map(|s| unpacked_size(s, limits.max_unpacked))
                        .unwrap_or(0);
                    sizes.insert(sid, s);
                    s
                }
            };
            total = total.saturating_add(size);
            if total > limits.max_unpacked {
                return Err(err(format!(
                    "The PDF's pages expand to more than {} MB and were not processed.",
                    limits.max_unpacked / (1024 * 1024)
                )));
            }
        }
    }
    Ok(())
}

/// `Resources` of a page, inherited through `/Parent` (bounded: the tree
/// was checked before).
fn page_resources(doc: &Document, page: ObjectId) -> Option<&Dictionary> {
    let mut d = doc.get_dictionary(page).ok()?;
    for _ in 0..MAX_TREE_DEPTH {
        if let Some(r) = dict_ref(doc, d, b"Resources") {
            return Some(r);
        }
        let p = d.get(b"Parent").ok()?.as_reference().ok()?;
        d = doc.get_dictionary(p).ok()?;
    }
    None
}

fn form_names(content: &[u8]) -> Vec<Vec<u8>> {
    let Ok(c) = Content::decode(content) else {
        return Vec::new();
    };
    c.operations
        .into_iter()
        .filter(|op| op.operator == "Do")
        .filter_map(|op| op.operands.first()?.as_name().ok().map(<[u8]>::to_vec))
        .collect()
}

/// Form XObjects drawn from a page may not draw themselves (directly or
/// through others) nor nest deeper than [`MAX_FORM_DEPTH`].
fn check_forms(
    doc: &Document,
    pages: &std::collections::BTreeMap<u32, ObjectId>,
) -> Result<(), ExtractError> {
    let mut done: HashSet<ObjectId> = HashSet::new();
    for page in pages.values() {
        let Some(res) = page_resources(doc, *page) else {
            continue;
        };
        let Ok(content) = doc.get_page_content(*page) else {
            continue;
        };
        let names = form_names(&content);
        let mut path = Vec::new();
        for name in names {
            visit_form(doc, res, &name, &mut path, &mut done)?;
        }
    }
    Ok(())
}

fn visit_form(
    doc: &Document,
    res: &Dictionary,
    name: &[u8],
    path: &mut Vec<ObjectId>,
    done: &mut HashSet<ObjectId>,
) -> Result<(), ExtractError> {
    let Some(id) = dict_ref(doc, res, b"XObject")
        .and_then(|x| x.get(name).ok())
        .and_then(|o| o.as_reference().ok())
    else {
        return Ok(());
    };
    if path.contains(&id) {
        return Err(err(
            "The PDF contains a drawing that includes itself; the file is damaged or hostile.",
        ));
    }
    if done.contains(&id) {
        return Ok(());
    }
    if path.len() >= MAX_FORM_DEPTH {
        return Err(err("The PDF's drawings are nested too deeply."));
    }
    let Ok(stream) = doc.get_object(id).and_then(Object::as_stream) else {
        return Ok(());
    };
    if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form".as_slice()) {
        return Ok(());
    }
    let inner_res = dict_ref(doc, &stream.dict, b"Resources").unwrap_or(res);
    let data = stream
        .decompressed_content()
        .unwrap_or_else(|_| stream.content.clone());
    path.push(id);
    for n in form_names(&data) {
        visit_form(doc, inner_res, &n, path, done)?;
    }
    path.pop();
    done.insert(id);
    Ok(())
}

/// `string '` is `T* string Tj`; `aw ac string "` is `aw Tw ac Tc string '`.
fn expand_quote(op: Operation, out: &mut Vec<Operation>) {
    match op.operator.as_str() {
        "'" => {
            out.push(Operation::new("T*", vec![]));
            out.push(Operation::new("Tj", op.operands));
        }
        "\"" if op.operands.len() == 3 => {
            let mut it = op.operands.into_iter();
            let (aw, ac, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
            out.push(Operation::new("Tw", vec![aw]));
            out.push(Operation::new("Tc", vec![ac]));
            out.push(Operation::new("T*", vec![]));
            out.push(Operation::new("Tj", vec![s]));
        }
        _ => out.push(op),
    }
}

fn rewrite_quote_operators(doc: &mut Document, page: ObjectId) {
    let Ok(content) = doc.get_and_decode_page_content(page) else {
        return;
    };
    if !content
        .operations
        .iter()
        .any(|op| op.operator == "'" || op.operator == "\"")
    {
        return;
    }
    let mut ops = Vec::with_capacity(content.operations.len() + 8);
    for op in content.operations {
        expand_quote(op, &mut ops);
    }
    if let Ok(bytes) = (Content { operations: ops }).encode() {
        let _ = doc.change_page_content(page, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-page PDF from raw objects (1 = catalog, 2 = pages, 3 = page).
    pub fn build(objects: &[String]) -> Vec<u8> {
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = vec![];
        for (i, o) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
        );
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    fn page_with(content: &str, page_extra: &str) -> Vec<u8> {
        build(&[
            "<< /Type /Catalog /Pages 2 0 R >>".into(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".into(),
            format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> {page_extra} >>"),
            format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
            "<< /Type /XObject /Subtype /Form /BBox [0 0 10 10] /Length 6 >>\nstream\n/X1 Do\nendstream".into(),
        ])
    }

    #[test]
    fn quote_operators_are_read() {
        let pdf = page_with(
            "BT /F1 12 Tf 72 720 Td 14 TL (First line) Tj (Second line) ' 1 0 (Third line) \" ET",
            "",
        );
        let t = pdf_text(&pdf, &Limits::default()).unwrap();
        assert!(
            t.contains("First line") && t.contains("Second line") && t.contains("Third line"),
            "{t}"
        );
        let only_quotes = page_with("BT /F1 12 Tf 72 720 Td 14 TL (Lonely quote) ' ET", "");
        let t = pdf_text(&only_quotes, &Limits::default()).unwrap();
        assert!(t.contains("Lonely quote"), "{t}");
    }

    #[test]
    fn self_parent_page_is_refused() {
        let pdf = page_with("BT /F1 12 Tf (x) Tj ET", "").replace_parent();
        let e = pdf_text(&pdf, &Limits::default()).unwrap_err();
        assert!(e.0.contains("loops back"), "{e}");
    }

    #[test]
    fn self_drawing_form_is_refused() {
        let pdf = page_with("BT /F1 12 Tf (x) Tj ET /X1 Do", "");
        let e = pdf_text(&pdf, &Limits::default()).unwrap_err();
        assert!(e.0.contains("includes itself"), "{e}");
    }

    trait ReplaceParent {
        fn replace_parent(self) -> Vec<u8>;
    }

    impl ReplaceParent for Vec<u8> {
        /// Points the page's `/Parent` at itself, keeping byte offsets.
        fn replace_parent(self) -> Vec<u8> {
            let s = String::from_utf8(self).unwrap();
            s.replacen("/Parent 2 0 R", "/Parent 3 0 R", 1).into_bytes()
        }
    }
}
