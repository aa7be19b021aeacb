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
use std::time::Duration;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery, TermSetQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use super::store::NewRow;

/// Writer heap; tantivy's minimum per thread is 15 MB.
const WRITER_BUDGET: usize = 20_000_000;

/// How long the first write waits for tantivy's writer lock before it gives up
/// (another process holding it, e.g. a second server on the same folder).
const LOCK_ATTEMPTS: u32 = 40;
const LOCK_PAUSE: Duration = Duration::from_millis(50);

pub struct Bm25 {
    index: Index,
    reader: IndexReader,
    collection: Field,
    uid: Field,
    seq: Field,
    text: Field,
    /// Opened on the first write and kept: tantivy's writer lock is a `flock`
    /// on a file, and a child process forked in between (the extraction
    /// worker) briefly holds a copy of a released lock, which made a fresh
    /// writer fail with "LockBusy". Holding one writer for the life of the
    /// index also keeps a second server on the same folder out.
    writer: Mutex<Option<IndexWriter>>,
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
            writer: Mutex::new(None),
        })
    }

    /// Takes tantivy's writer lock, retrying briefly while it is busy.
    fn open_writer(&self) -> anyhow::Result<IndexWriter> {
        let mut attempt = 0;
        loop {
            match self.index.writer_with_num_threads(1, WRITER_BUDGET) {
                Ok(w) => return Ok(w),
                Err(tantivy::TantivyError::LockFailure(
                    tantivy::directory::error::LockError::LockBusy,
                    _,
                )) if attempt + 1 < LOCK_ATTEMPTS => {
                    attempt += 1;
                    std::thread::sleep(LOCK_PAUSE);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs `f` with the index's writer, commits and refreshes the reader.
    /// When `f` or the commit fails, the uncommitted changes are rolled back
    /// (and a writer that cannot roll back is dropped, to be opened afresh).
    fn write(&self, f: impl FnOnce(&IndexWriter) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let mut slot = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let w = match &mut *slot {
            Some(w) => w,
            empty => empty.insert(self.open_writer()?),
        };
        let done = f(w).and_then(|()| w.commit().map(drop).map_err(anyhow::Error::from));
        if let Err(e) = done {
            if w.rollback().is_err() {
                *slot = None;
            }
            return Err(e);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(words: &[&str], first: u64) -> Vec<NewRow> {
        words
            .iter()
            .enumerate()
            .map(|(i, w)| NewRow {
                seq: first + i as u64,
                text: (*w).to_string(),
            })
            .collect()
    }

    fn hits(b: &Bm25, q: &str) -> usize {
        b.search(&["kb".to_string()], q, 10).unwrap().len()
    }

    #[test]
    fn the_writer_lock_is_held_between_writes() {
        let tmp = tempfile::tempdir().unwrap();
        let b = Bm25::open(tmp.path()).unwrap();
        b.add("kb", &rows(&["apples"], 0)).unwrap();
        // Someone else (a second server, or a forked child's copy of an old
        // lock) cannot slip in between two of our writes.
        let other = Index::open_in_dir(tmp.path()).unwrap();
        let err = other
            .writer_with_num_threads::<TantivyDocument>(1, WRITER_BUDGET)
            .err()
            .expect("the writer lock should still be ours");
        assert!(
            matches!(err, tantivy::TantivyError::LockFailure(..)),
            "{err}"
        );
        b.add("kb", &rows(&["bananas"], 1)).unwrap();
        assert_eq!((hits(&b, "apples"), hits(&b, "bananas")), (1, 1));
    }

    #[test]
    fn a_failed_write_is_rolled_back_and_the_next_one_works() {
        let tmp = tempfile::tempdir().unwrap();
        let b = Bm25::open(tmp.path()).unwrap();
        let failed = b.write(|w| {
            let mut doc = TantivyDocument::new();
            doc.add_text(b.collection, "kb");
            doc.add_text(b.uid, uid("kb", 9));
            doc.add_u64(b.seq, 9);
            doc.add_text(b.text, "half written");
            w.add_document(doc)?;
            anyhow::bail!("stopped halfway")
        });
        assert!(failed.is_err());
        b.add("kb", &rows(&["cherries"], 0)).unwrap();
        assert_eq!(b.num_docs(), 1);
        assert_eq!(hits(&b, "written"), 0);
        assert_eq!(hits(&b, "cherries"), 1);
    }

    /// The soak run's one failed upload: writes racing with child processes
    /// forked (with a pre-exec hook, as the extraction worker is) while the
    /// lock file was open.
    #[cfg(unix)]
    #[test]
    fn writes_succeed_while_children_are_forked() {
        use std::os::unix::process::CommandExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        let tmp = tempfile::tempdir().unwrap();
        let b = Bm25::open(tmp.path()).unwrap();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..300 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut cmd = std::process::Command::new("true");
                    // SAFETY: the hook does nothing; it only forces fork+exec.
                    unsafe {
                        cmd.pre_exec(|| Ok(()));
                    }
                    let _ = cmd.status();
                }
            });
            for i in 0..60u64 {
                b.add("kb", &rows(&["figs"], i)).unwrap();
                if i % 3 == 0 {
                    b.delete_seqs("kb", &[i]).unwrap();
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(b.num_docs(), 40);
    }
}
