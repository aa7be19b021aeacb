//! BM25 over the stored chunks: one tantivy index (`DATA_DIR/vector_db/bm25/`)
//! for all collections, each document carrying its collection name and the
//! chunk's sequence number in [`super::store`].
//!
//! Text goes through tantivy's default analyzer (split on non-alphanumerics,
//! lower-case). Term statistics (IDF, average length) are index-wide rather
//! than per collection; that shifts absolute scores a little but hardly the
//! ranking inside a collection, and only the ranking is used by the fusion.

use std::path::Path;
use std::sync::Mutex;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use super::store::NewRow;

/// Writer heap; tantivy's minimum per thread is 15 MB.
const WRITER_BUDGET: usize = 20_000_000;

pub struct Bm25 {
    index: Index,
    reader: IndexReader,
    collection: Field,
    uid: Field,
    seq: Field,
    text: Field,
    writer: Mutex<()>,
}

fn uid(collection: &str, seq: u64) -> String {
    format!("{collection}\u{1f}{seq}")
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_text_field("collection", STRING | STORED);
    b.add_text_field("uid", STRING);
    b.add_u64_field("seq", STORED);
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    b.add_text_field("text", text);
    b.build()
}

impl Bm25 {
    pub fn open(dir: &Path) -> anyhow::Result<Bm25> {
        std::fs::create_dir_all(dir)?;
        let schema = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)?;
        let index = Index::open_or_create(directory, schema.clone())?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let f = |name: &str| index.schema().get_field(name);
        Ok(Bm25 {
            collection: f("collection")?,
            uid: f("uid")?,
            seq: f("seq")?,
            text: f("text")?,
            index,
            reader,
            writer: Mutex::new(()),
        })
    }

    /// Runs `f` with a short-lived writer, commits and refreshes the reader.
    fn write(&self, f: impl FnOnce(&IndexWriter) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let _g = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut w: IndexWriter = self.index.writer_with_num_threads(1, WRITER_BUDGET)?;
        f(&w)?;
        w.commit()?;
        w.wait_merging_threads()?;
        self.reader.reload()?;
        Ok(())
    }

    pub fn add(&self, collection: &str, rows: &[NewRow]) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write(|w| {
            for r in rows {
                let mut doc = TantivyDocument::new();
                doc.add_text(self.collection, collection);
                doc.add_text(self.uid, uid(collection, r.seq));
                doc.add_u64(self.seq, r.seq);
                doc.add_text(self.text, &r.text);
                w.add_document(doc)?;
            }
            Ok(())
        })
    }

    pub fn delete_collection(&self, collection: &str) -> anyhow::Result<()> {
        self.write(|w| {
            w.delete_term(Term::from_field_text(self.collection, collection));
            Ok(())
        })
    }

    pub fn delete_seqs(&self, collection: &str, seqs: &[u64]) -> anyhow::Result<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.write(|w| {
            for &s in seqs {
                w.delete_term(Term::from_field_text(self.uid, &uid(collection, s)));
            }
            Ok(())
        })
    }

    /// Live documents in the index.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Every live (collection, seq) in the index.
    pub fn all_keys(&self) -> anyhow::Result<Vec<(String, u64)>> {
        let searcher = self.reader.searcher();
        let mut out = Vec::with_capacity(searcher.num_docs() as usize);
        for segment in searcher.segment_readers() {
            let store = segment.get_store_reader(64)?;
            for doc_id in segment.doc_ids_alive() {
                let doc: TantivyDocument = store.get(doc_id)?;
                let collection = doc
                    .get_first(self.collection)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_string();
                let Some(seq) = doc.get_first(self.seq).and_then(|v| v.as_u64()) else {
                    continue;
                };
                out.push((collection, seq));
            }
        }
        Ok(out)
    }

    pub fn reset(&self) -> anyhow::Result<()> {
        self.write(|w| {
            w.delete_all_documents()?;
            Ok(())
        })
    }

    /// The `n` best (collection, seq, score) for `query` within `collections`.
    pub fn search(
        &self,
        collections: &[String],
        query: &str,
        n: usize,
    ) -> anyhow::Result<Vec<(String, u64, f32)>> {
        if n == 0 || collections.is_empty() {
            return Ok(Vec::new());
        }
        // tantivy allocates for `n` results up front.
        let n = n.min(4 * crate::limits::MAX_K);
        let mut analyzer = self.index.tokenizer_for_field(self.text)?;
        let mut terms: Vec<String> = Vec::new();
        let mut stream = analyzer.token_stream(query);
        while stream.advance() {
            let t = stream.token().text.clone();
            if !terms.contains(&t) {
                terms.push(t);
            }
        }
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let words: Vec<(Occur, Box<dyn Query>)> = terms
            .iter()
            .map(|t| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(self.text, t),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Should, q)
            })
            .collect();
        let filter = TermSetQuery::new(
            collections
                .iter()
                .map(|c| Term::from_field_text(self.collection, c)),
        );
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(words)) as Box<dyn Query>,
            ),
            (Occur::Must, Box::new(filter)),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(n).order_by_score())?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            let (Some(c), Some(s)) = (
                doc.get_first(self.collection).and_then(|v| v.as_str()),
                doc.get_first(self.seq).and_then(|v| v.as_u64()),
            ) else {
                continue;
            };
            out.push((c.to_string(), s, score));
        }
        Ok(out)
    }
}
