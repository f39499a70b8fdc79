//! Long-term memory facts with full-text recall. Deliberately minimal until
//! the memory feature defines what it needs.

use rusqlite::Row;

use crate::error::StoreError;
use crate::store::{limit, now, Store};

/// One remembered fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryFact {
    pub id: i64,
    /// A session key, or "global".
    pub scope: String,
    pub fact: String,
    pub created_at: i64,
}

fn fact_from_row(r: &Row<'_>) -> rusqlite::Result<MemoryFact> {
    Ok(MemoryFact {
        id: r.get(0)?,
        scope: r.get(1)?,
        fact: r.get(2)?,
        created_at: r.get(3)?,
    })
}

/// Turns free text into an FTS5 query that matches any of its words. Each
/// word is quoted, so the model's text can never be FTS5 syntax (a stray
/// `"`, `-`, `NEAR` or `*` would otherwise be a syntax error or change the
/// meaning).
pub(crate) fn fts_query(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{w}\""))
        .collect::<Vec<_>>()
        .join(" OR ")
}

impl Store {
    /// Stores a fact and returns its id.
    pub fn remember(&self, scope: &str, fact: &str) -> Result<i64, StoreError> {
        let at = now();
        self.run(|c| {
            c.execute(
                "INSERT INTO memory (scope, fact, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                (scope, fact, at),
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Facts in `scope` sharing words with `query`, best match first.
    /// A query with no words finds nothing.
    pub fn recall(
        &self,
        scope: &str,
        query: &str,
        max: usize,
    ) -> Result<Vec<MemoryFact>, StoreError> {
        let q = fts_query(query);
        if q.is_empty() {
            return Ok(Vec::new());
        }
        self.run(|c| {
            let mut stmt = c.prepare(
                "SELECT m.id, m.scope, m.fact, m.created_at
                 FROM memory_fts JOIN memory m ON m.id = memory_fts.rowid
                 WHERE memory_fts MATCH ?1 AND m.scope = ?2
                 ORDER BY bm25(memory_fts), m.id LIMIT ?3",
            )?;
            let rows = stmt.query_map((q.as_str(), scope, limit(max)), fact_from_row)?;
            rows.collect()
        })
    }

    /// Deletes a fact; returns whether it existed.
    pub fn forget(&self, id: i64) -> Result<bool, StoreError> {
        self.run(|c| Ok(c.execute("DELETE FROM memory WHERE id = ?1", [id])? == 1))
    }
}
