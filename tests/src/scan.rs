//! Reading a platform's storage for what must not be there: files as bytes (the SQLite database
//! runs with `secure_delete`, so deleted text does not linger in free pages) and every text
//! column of a PostgreSQL database. Matching ignores case.

use std::path::Path;

use diesel::prelude::*;

/// Every file under `dir`, with its bytes.
pub fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
    out
}

/// Whether `haystack` holds `needle`, ignoring case.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    let hay = String::from_utf8_lossy(haystack).to_lowercase();
    hay.contains(&needle.to_lowercase())
}

/// Each `file: needle` found in the files under `dir` whose name contains `name_part` (`""`
/// for every file).
pub fn file_hits(dir: &Path, needles: &[&str], name_part: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let files = files_under(dir);
    for (path, bytes) in files.iter().filter(|(p, _)| {
        Path::new(p)
            .file_name()
            .is_some_and(|n| n.to_string_lossy().contains(name_part))
    }) {
        for s in needles {
            if contains(bytes, s) {
                hits.push(format!("{path}: {s:?}"));
            }
        }
    }
    hits
}

/// Each `table.column: needle` found in a text, JSON or bytes column of the PostgreSQL database
/// at `url` (its current schema). Fails when the scan does not see the platform's tables.
pub fn postgres_text_hits(url: &str, needles: &[&str]) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Column {
        #[diesel(sql_type = diesel::sql_types::Text)]
        table_name: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        column_name: String,
    }
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    let columns: Vec<Column> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name \
         FROM information_schema.columns WHERE table_schema = current_schema() \
         AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea')",
    )
    .load(&mut conn)
    .unwrap();
    assert!(
        columns
            .iter()
            .any(|c| c.table_name == "saved_searches" && c.column_name == "name"),
        "the scan sees the platform's tables"
    );
    let mut hits = Vec::new();
    for c in &columns {
        for s in needles {
            let found: Count = diesel::sql_query(format!(
                "SELECT count(*) AS n FROM \"{}\" WHERE lower(\"{}\"::text) LIKE $1",
                c.table_name, c.column_name
            ))
            .bind::<diesel::sql_types::Text, _>(format!("%{}%", s.to_lowercase()))
            .get_result(&mut conn)
            .unwrap();
            if found.n > 0 {
                hits.push(format!("{}.{}: {s:?}", c.table_name, c.column_name));
            }
        }
    }
    hits
}
