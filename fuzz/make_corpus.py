#!/usr/bin/env python3
"""Writes the seed corpus in fuzz/corpus/<target>/: a few tiny valid inputs
and the hostile cases each parser must survive. Re-run after changing it;
findings from `cargo fuzz` are added next to these by hand."""
import io, json, os, zipfile, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pdf(objects):
    out = bytearray(b"%PDF-1.4\n")
    offs = []
    for i, o in enumerate(objects):
        offs.append(len(out))
        out += b"%d 0 obj\n" % (i + 1) + (o if isinstance(o, bytes) else o.encode()) + b"\nendobj\n"
    x = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for o in offs:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, x)
    return bytes(out)


def stream(data, extra=""):
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra.encode()) + data + b"\nendstream"


FONT = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
CAT = "<< /Type /Catalog /Pages 2 0 R >>"
PAGES = "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"


def page(extra="", contents="4 0 R"):
    return ("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %s "
            "/Resources << /Font << /F1 5 0 R >> /XObject << /X1 6 0 R >> >> %s >>" % (contents, extra))


FORM = stream(b"/X1 Do", "/Type /XObject /Subtype /Form /BBox [0 0 9 9] ")
text = b"BT /F1 12 Tf 72 720 Td 14 TL (Hello fuzz) Tj (second) ' 1 0 (third) \" ET"
put("pdf", "hello.pdf", pdf([CAT, PAGES, page(), stream(text), FONT, stream(b"")]))
put("pdf", "self_parent.pdf", pdf([CAT, PAGES, "<< /Type /Page /Parent 3 0 R /Contents 4 0 R >>", stream(text)]))
put("pdf", "parent_loop.pdf", pdf([CAT, "<< /Type /Pages /Kids [3 0 R] /Count 1 /Parent 6 0 R >>",
                                   "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>", stream(text), FONT,
                                   "<< /Type /Pages /Parent 2 0 R /Kids [] /Count 0 >>"]))
put("pdf", "kids_loop.pdf", pdf([CAT, "<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 >>", page(), stream(text), FONT]))
put("pdf", "self_form.pdf", pdf([CAT, PAGES, page(), stream(b"/X1 Do"), FONT, FORM]))
bomb = zlib.compress(b" " * (1 << 20), 9)
put("pdf", "flate_bomb.pdf", pdf([CAT, PAGES, page(contents="[" + " ".join(["4 0 R"] * 100) + "]"),
                                  stream(bomb, "/Filter /FlateDecode "), FONT, stream(b"")]))
put("pdf", "truncated.pdf", pdf([CAT, PAGES, page(), stream(text), FONT])[:180])
put("pdf", "png_named_pdf.pdf", bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"))
put("pdf", "no_mediabox.pdf", pdf([CAT, PAGES, "<< /Type /Page /Parent 2 0 R /Contents 4 0 R >>", stream(b"BT (x) Tj ET")]))
put("pdf", "deep_array.pdf", pdf([CAT, PAGES, page(), stream(b"[" * 5000), FONT]))


def zipped(members, method=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", method) as z:
        for n, d in members:
            z.writestr(n, d)
    return b.getvalue()


DOC = ('<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Tom &amp; Jerry</w:t><w:tab/>'
       '<w:t>col</w:t></w:r></w:p></w:body></w:document>')
put("docx", "hello.docx", zipped([("word/document.xml", DOC)]))
put("docx", "truncated.docx", zipped([("word/document.xml", DOC)])[:60])
put("docx", "bomb.docx", zipped([("word/document.xml", b"<w:t>" + b" " * (65 << 20) + b"</w:t>")]))
put("docx", "not_zip.docx", b"PK\x03\x04garbage")
put("docx", "deep.docx", zipped([("word/document.xml", "<w:p>" * 20000 + "x" + "</w:p>" * 20000)]))
put("docx", "missing_member.docx", zipped([("word/other.xml", DOC)]))

SLIDE = '<p:sld xmlns:p="p" xmlns:a="a"><a:p><a:r><a:t>{}</a:t></a:r></a:p></p:sld>'
put("pptx", "hello.pptx", zipped([("ppt/slides/slide1.xml", SLIDE.format("one")),
                                  ("ppt/slides/slide2.xml", SLIDE.format("two"))]))
put("pptx", "truncated.pptx", zipped([("ppt/slides/slide1.xml", SLIDE.format("one"))])[:70])
put("pptx", "huge_number.pptx", zipped([("ppt/slides/slide99999999999999999999.xml", SLIDE.format("x"))]))
put("pptx", "bad_xml.pptx", zipped([("ppt/slides/slide1.xml", "<a:t>unclosed <<<")]))

CT = ('<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
      '<Default Extension="xml" ContentType="application/xml"/>'
      '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
      '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>')
RELS = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WB = ('<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
      'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
      '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
WBRELS = ('<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
          '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')


def sheet(rows):
    return ('<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            '<sheetData>' + rows + '</sheetData></worksheet>')


def xlsx(sheet_xml):
    return zipped([("[Content_Types].xml", CT), ("_rels/.rels", RELS), ("xl/workbook.xml", WB),
                   ("xl/_rels/workbook.xml.rels", WBRELS), ("xl/worksheets/sheet1.xml", sheet_xml)])


put("xlsx", "hello.xlsx", xlsx(sheet('<row r="1"><c r="A1" t="inlineStr"><is><t>Fruit</t></is></c>'
                                     '<c r="B1"><v>3.5</v></c></row>')))
put("xlsx", "far_cell.xlsx", xlsx(sheet('<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>')))
put("xlsx", "bomb.xlsx", zipped([("xl/worksheets/sheet1.xml", b" " * (65 << 20))]))
put("xlsx", "garbage.xlsx", b"PK\x03\x04 not really")
put("xlsx", "truncated.xlsx", xlsx(sheet(""))[:200])

CONTAINER = '<container><rootfiles><rootfile full-path="OEBPS/content.opf"/></rootfiles></container>'
OPF = ('<package><manifest><item id="a" href="a.xhtml"/></manifest>'
       '<spine><itemref idref="a"/><itemref idref="a"/></spine></package>')
put("epub", "hello.epub", zipped([("META-INF/container.xml", CONTAINER), ("OEBPS/content.opf", OPF),
                                  ("OEBPS/a.xhtml", "<html><body><p>Chapter one</p></body></html>")]))
put("epub", "missing_opf.epub", zipped([("META-INF/container.xml", CONTAINER)]))
put("epub", "deep_chapter.epub", zipped([("META-INF/container.xml", CONTAINER), ("OEBPS/content.opf", OPF),
                                         ("OEBPS/a.xhtml", "<div>" * 5000 + "x" + "</div>" * 5000)]))
put("epub", "escape_path.epub", zipped([("META-INF/container.xml", CONTAINER.replace("OEBPS/content.opf", "../../etc/passwd"))]))
put("epub", "percent.epub", zipped([("META-INF/container.xml", CONTAINER),
                                    ("OEBPS/content.opf", OPF.replace('href="a.xhtml"', 'href="%E2%82%AC%zz%"'))]))

put("html", "hello.html", "<html><body><h1>Title</h1><p>Some &amp; text</p><script>x()</script></body></html>")
put("html", "deep.html", "<div>" * 5000 + "deep" + "</div>" * 5000)
put("html", "deep_table.html", "<table><tr><td>" * 1500 + "cell" + "</td></tr></table>" * 1500)
put("html", "unclosed.html", "<p><b><i><u>" * 2000 + "<<<>>>&#xFFFFFFFF;&bogus;")
put("html", "latin1.html", b"<p>caf\xe9</p>")

put("xml", "hello.xml", '<?xml version="1.0"?><root><a>one</a><b>two &amp; three</b></root>')
put("xml", "deep.xml", "<a>" * 10000 + "x" + "</a>" * 10000)
put("xml", "laughs.xml", '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><l>&c;&c;&c;&c;</l>')
put("xml", "malformed.xml", "<a><b></a></b><<<&#x110000;&#0;]]>")
put("xml", "cdata.xml", "<a><![CDATA[<not a tag>]]><script>drop</script></a>")

put("text", "utf8.txt", "héllo wörld ✓\r\n")
put("text", "latin1.txt", b"caf\xe9 \xff\xfe")
put("text", "bom.txt", b"\xef\xbb\xbfbom text")
put("text", "long_line.txt", "word " * 4000)
put("text", "nul.txt", b"a\x00b\x00c")

put("excerpt", "kelvin.bin", b"\x40" + "\u212a\u0130 kelvin i İ".encode() + b"\x00i\x01k")
put("excerpt", "plain.bin", b"\x20the quick brown fox\x00fox")
put("excerpt", "empty.bin", b"\x00\x00")
put("excerpt", "combining.bin", b"\x05" + "e\u0301\u0301\u0301 ẞß ǅ".encode() + b"\x00ss\x01\xc3\x9f")

chain = {str(i): {"id": str(i), "role": "user", "parentId": str(i - 1) if i else None,
                  "childrenIds": [str(i + 1)] if i < 499 else [], "content": "m"} for i in range(500)}
put("history", "long_chain.json", json.dumps({"history": {"currentId": "0", "messages": chain}}))
put("history", "self_child.json", json.dumps({"history": {"currentId": "a", "messages": {
    "a": {"id": "a", "role": "user", "parentId": "a", "childrenIds": ["a"], "content": "loop"}}}}))
put("history", "two_cycle.json", json.dumps({"history": {"currentId": "x", "messages": {
    "a": {"id": "a", "role": "user", "parentId": "b", "childrenIds": ["b"]},
    "b": {"id": "b", "role": "assistant", "parentId": "a", "childrenIds": ["a"]}}}}))
put("history", "wrong_types.json", json.dumps({"history": {"currentId": 5, "messages": {
    "a": [], "b": {"id": 1, "role": None, "parentId": {"x": 1}, "childrenIds": "nope", "timestamp": "t"}}}}))
put("history", "not_object.json", "[1,2,3]")

put("stream_sse", "normal.sse", b"\x07data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n"
    b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
put("stream_sse", "multiline.sse", b"\x01: comment\r\ndata: {\"choices\":\r\ndata: [{\"delta\":{\"content\":\"x\"}}]}\r\n\r\n")
put("stream_sse", "error.sse", b"\x03data: {\"error\":{\"message\":\"bad\"}}\n\n")
put("stream_sse", "no_newline.sse", b"\x3f" + b"data: " + b"x" * 5000)
put("stream_sse", "invalid_utf8.sse", b"\x02data: {\"choices\":[{\"delta\":{\"content\":\"\xff\xfe\"}}]}\n\n")

put("stream_ndjson", "normal.ndjson", b"\x05{\"message\":{\"content\":\"Hi\"},\"done\":false}\n"
    b"{\"message\":{\"content\":\"\"},\"done\":true,\"eval_count\":3}\n")
put("stream_ndjson", "error.ndjson", b"\x01{\"error\":\"model not found\"}\n")
put("stream_ndjson", "truncated.ndjson", b"\x09{\"message\":{\"content\":\"Hi\"},\"do")
put("stream_ndjson", "garbage.ndjson", b"\x00\n\n\r\n[][]{}{{{\n\"done\":true\n")
put("stream_ndjson", "thinking_tools.ndjson", b"\x0b{\"message\":{\"thinking\":\"hm\",\"tool_calls\":[{}]},"
    b"\"done\":true,\"prompt_eval_count\":-1,\"eval_duration\":0}\n")
