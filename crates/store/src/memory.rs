//! Long-term memory: short texts with tags, full-text indexed (FTS5, BM25
//! ranking), each in a scope: its owner (`channel:user id`) or `shared`.
//! The store only filters by the scopes it is given; who may see which
//! scope is the caller's rule.

use rusqlite::Row;

use crate::error::StoreError;
use crate::store::{limit, now, Store};

/// The scope every owner can read and write.
pub const SHARED_SCOPE: &str = "shared";

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryHit {
    pub id: i64,
    pub scope: String,
    pub tags: String,
    /// The matching part, with `[` `]` around matched words.
    pub snippet: String,
    pub created_at: i64,
}

fn hit_from_row(r: &Row<'_>) -> rusqlite::Result<MemoryHit> {
    Ok(MemoryHit {
        id: r.get(0)?,
        scope: r.get(1)?,
        tags: r.get(2)?,
        snippet: r.get(3)?,
        created_at: r.get(4)?,
    })
}

/// Turns free text into an FTS5 query that matches any of its words (a word
/// also matches as a prefix: "meet" finds "meeting"). Each word is quoted,
/// so the model's text can never be FTS5 syntax (a stray `"`, `-`, `NEAR`
/// or `*` would otherwise be a syntax error or change the meaning).
pub(crate) fn fts_query(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\"*"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

impl Store {
    /// Saves a memory in `scope` and returns its id.
    pub fn memory_save(&self, scope: &str, text: &str, tags: &str) -> Result<i64, StoreError> {
        let at = now();
        self.run(|c| {
            c.prepare_cached(
                "INSERT INTO memory (scope, text, tags, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute((scope, text, tags, at))?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Memories in `scopes` sharing words with `query` (text or tags), best
    /// match first (BM25). A query with no words finds nothing.
    pub fn memory_search(
        &self,
        scopes: &[&str],
        query: &str,
        max: usize,
    ) -> Result<Vec<MemoryHit>, StoreError> {
        let q = fts_query(query);
        if q.is_empty() || scopes.is_empty() {
            return Ok(Vec::new());
        }
        // Two scopes at most in practice (owner and shared): fixed SQL keeps
        // the statement cached.
        let (a, b) = (scopes[0], scopes.get(1).copied().unwrap_or(scopes[0]));
        self.run(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT m.id, m.scope, m.tags,
                        snippet(memory_fts, 0, '[', ']', '…', 16), m.created_at
                 FROM memory_fts JOIN memory m ON m.id = memory_fts.rowid
                 WHERE memory_fts MATCH ?1 AND m.scope IN (?2, ?3)
                 ORDER BY bm25(memory_fts), m.id DESC LIMIT ?4",
            )?;
            let rows = stmt.query_map((q.as_str(), a, b, limit(max)), hit_from_row)?;
            rows.collect()
        })
    }

    /// Deletes memory `id` if it is in one of `scopes`; returns whether it
    /// did.
    pub fn memory_forget(&self, scopes: &[&str], id: i64) -> Result<bool, StoreError> {
        let Some(&a) = scopes.first() else {
            return Ok(false);
        };
        let b = scopes.get(1).copied().unwrap_or(a);
        self.run(|c| {
            Ok(
                c.prepare_cached("DELETE FROM memory WHERE id = ?1 AND scope IN (?2, ?3)")?
                    .execute((id, a, b))?
                    == 1,
            )
        })
    }

    /// How many memories `scope` holds.
    pub fn memory_count(&self, scope: &str) -> Result<u64, StoreError> {
        self.run(|c| {
            c.prepare_cached("SELECT count(*) FROM memory WHERE scope = ?1")?
                .query_row([scope], |r| r.get::<_, i64>(0))
        })
        .map(|n| u64::try_from(n).unwrap_or(0))
    }
}
