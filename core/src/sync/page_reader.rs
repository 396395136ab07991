//! Reads a changes page while its body streams in: each job of the
//! top-level `jobs` array is parsed as soon as its last byte has arrived,
//! so that at the end of the transfer only what follows the last job is
//! left to parse (on a slow link the parsing hides behind the transfer).
//!
//! The document is the same JSON as a whole-body parse reads, members in
//! any order: a structural scan (strings, escapes, nesting) finds the
//! elements of the `jobs` member, each is parsed with serde on its own, and
//! everything else is kept and parsed at the end as a [`ChangesResponse`]
//! whose `jobs` array was emptied. A `jobs` key the scan does not recognise
//! (written with escapes) is left in place and parsed at the end as usual.
//! Whatever the scan lets through that is not JSON, serde rejects.

use serde::de::DeserializeOwned;
use smartcontrol_cloud_api::{ChangesResponse, Job};

/// A changes page read piece by piece, its jobs read as `J` (the core
/// reads [`super::client::WireJob`]: the job beside its text as sent); see
/// the module doc.
pub(crate) struct PageReader<J = Job> {
    /// Bytes received and not yet consumed (the unfinished end).
    buf: Vec<u8>,
    /// Next byte of `buf` to scan.
    pos: usize,
    /// Start in `buf` of the job being received.
    job_start: Option<usize>,
    /// The document without the elements of `jobs`.
    rest: Vec<u8>,
    jobs: Vec<J>,
    /// Open objects and arrays.
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Start in `buf` of the string being scanned at depth 1 (a key or a
    /// string value of the top-level object).
    key_start: Option<usize>,
    /// The last string completed at depth 1 was `"jobs"`.
    last_string_is_jobs: bool,
    /// The last `:` at depth 1 followed the key `"jobs"`.
    value_of_jobs: bool,
    /// Inside the elements of `jobs`: the depth of the array's content.
    in_jobs: Option<usize>,
    /// `jobs` was cut out once already.
    jobs_seen: bool,
    /// Inside `jobs`: after `[` or a comma, where an element must come.
    expect_job: bool,
    /// Elements of `jobs` begun.
    jobs_in_array: usize,
}

impl<J> Default for PageReader<J> {
    fn default() -> Self {
        PageReader {
            buf: Vec::new(),
            pos: 0,
            job_start: None,
            rest: Vec::new(),
            jobs: Vec::new(),
            depth: 0,
            in_string: false,
            escaped: false,
            key_start: None,
            last_string_is_jobs: false,
            value_of_jobs: false,
            in_jobs: None,
            jobs_seen: false,
            expect_job: false,
            jobs_in_array: 0,
        }
    }
}

impl<J: DeserializeOwned> PageReader<J> {
    /// Takes the next piece of the body.
    pub(crate) fn feed(&mut self, piece: &[u8]) -> Result<(), serde_json::Error> {
        self.buf.extend_from_slice(piece);
        while self.pos < self.buf.len() {
            if self.in_string && !self.escaped && self.in_jobs.is_some() {
                // Most of a page is the text inside its jobs' strings.
                let ahead = &self.buf[self.pos..];
                let skip = ahead
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\')
                    .unwrap_or(ahead.len());
                self.pos += skip;
                if self.pos == self.buf.len() {
                    break;
                }
            }
            let i = self.pos;
            let b = self.buf[i];
            self.pos += 1;
            if let Some(array_depth) = self.in_jobs {
                self.scan_jobs(i, b, array_depth)?;
            } else {
                self.scan_rest(i, b);
            }
        }
        // Keep only what is still needed: the job being received, or a key
        // being read.
        let keep = self.job_start.or(self.key_start).unwrap_or(self.pos);
        if keep > 0 {
            self.buf.drain(..keep);
            self.pos -= keep;
            self.job_start = self.job_start.map(|s| s - keep);
            self.key_start = self.key_start.map(|s| s - keep);
        }
        Ok(())
    }

    /// The page, once the whole body was fed.
    pub(crate) fn finish(self) -> Result<ChangesResponse<J>, serde_json::Error> {
        let mut page: ChangesResponse<J> = serde_json::from_slice(&self.rest)?;
        if self.jobs_seen {
            page.jobs = self.jobs;
        }
        Ok(page)
    }

    /// A byte inside a string: escapes followed; whether it closed the
    /// string.
    fn string_byte(&mut self, b: u8) -> bool {
        if self.escaped {
            self.escaped = false;
        } else if b == b'\\' {
            self.escaped = true;
        } else if b == b'"' {
            self.in_string = false;
            return true;
        }
        false
    }

    /// A byte outside the elements of `jobs`: kept for the final parse.
    fn scan_rest(&mut self, i: usize, b: u8) {
        self.rest.push(b);
        if self.in_string {
            if self.string_byte(b) {
                if let Some(start) = self.key_start.take() {
                    self.last_string_is_jobs = &self.buf[start..=i] == b"\"jobs\"";
                }
            }
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 {
                    self.key_start = Some(i);
                }
            }
            b':' if self.depth == 1 => {
                self.value_of_jobs = self.last_string_is_jobs;
                self.last_string_is_jobs = false;
            }
            b'{' | b'[' => {
                self.depth += 1;
                if b == b'[' && self.depth == 2 && self.value_of_jobs && !self.jobs_seen {
                    self.in_jobs = Some(self.depth);
                    self.jobs_seen = true;
                    self.expect_job = true;
                }
                self.value_of_jobs = false;
            }
            b'}' | b']' => self.depth = self.depth.saturating_sub(1),
            b' ' | b'\n' | b'\r' | b'\t' => {}
            _ => {
                self.value_of_jobs = false;
                self.last_string_is_jobs = false;
            }
        }
    }

    /// A byte inside the `jobs` array: elements are parsed as they end.
    fn scan_jobs(&mut self, i: usize, b: u8, array_depth: usize) -> Result<(), serde_json::Error> {
        if self.in_string {
            self.string_byte(b);
            return Ok(());
        }
        let at_array_level = self.depth == array_depth;
        match b {
            b' ' | b'\n' | b'\r' | b'\t' => return Ok(()),
            b',' | b']' if at_array_level => {
                self.end_job(i)?;
                // A comma must follow an element, and an element a comma.
                if self.expect_job && (b == b',' || self.jobs_in_array > 0) {
                    return Err(serde::de::Error::custom("jobs: a comma without an element"));
                }
                self.expect_job = b == b',';
                if b == b']' {
                    self.depth -= 1;
                    self.in_jobs = None;
                    self.rest.push(b']');
                }
                return Ok(());
            }
            _ => {}
        }
        if at_array_level && self.job_start.is_none() {
            if !self.expect_job {
                return Err(serde::de::Error::custom(
                    "jobs: two elements without a comma",
                ));
            }
            self.expect_job = false;
            self.jobs_in_array += 1;
            self.job_start = Some(i);
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth -= 1;
                if self.depth == array_depth {
                    self.end_job(i + 1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The job received up to `end` (exclusive), if one is open.
    fn end_job(&mut self, end: usize) -> Result<(), serde_json::Error> {
        if let Some(start) = self.job_start.take() {
            self.jobs
                .push(serde_json::from_slice(&self.buf[start..end])?);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn job(id: &str) -> serde_json::Value {
        serde_json::json!({
            "id": id, "provider_id": "p", "provider_name": "P, \"quoted\" ]}",
            "fleet_id": "f", "fleet_name": "F [x] {y}", "kind": "INSTALLATION",
            "status": "ASSIGNED", "version": 1, "updated_at": "2026-01-01T00:00:00Z",
            "master_data": {"a": [1, {"b": "\\\"jobs\\\":["}]},
        })
    }

    fn read_in_pieces(json: &[u8], piece: usize) -> Result<ChangesResponse, serde_json::Error> {
        let mut r = PageReader::default();
        for p in json.chunks(piece) {
            r.feed(p)?;
        }
        r.finish()
    }

    /// Every split of the body reads the same page as a whole-body parse.
    #[test]
    fn any_split_reads_the_whole_page() {
        let doc = serde_json::json!({
            "cursor": "42", "jobs": [job("a"), job("b"), job("c")],
            "removed": [{"job_id": "z", "reason": "TAKEN_OVER"}], "has_more": true,
            "catalogue_version": 3,
        });
        let compact = serde_json::to_vec(&doc).unwrap();
        let pretty = serde_json::to_vec_pretty(&doc).unwrap();
        let jobs_first = format!(
            "{{ \"jobs\" : [ {} ,{}\n,{} ] , \"cursor\":\"42\",\"has_more\":true,\
             \"removed\":[{{\"job_id\":\"z\",\"reason\":\"TAKEN_OVER\"}}],\"catalogue_version\":3}}",
            job("a"),
            job("b"),
            job("c")
        );
        for body in [compact, pretty, jobs_first.into_bytes()] {
            let whole: ChangesResponse = serde_json::from_slice(&body).unwrap();
            for piece in [1, 2, 3, 7, 64, body.len()] {
                let read = read_in_pieces(&body, piece).unwrap();
                assert_eq!(
                    serde_json::to_value(&read).unwrap(),
                    serde_json::to_value(&whole).unwrap(),
                    "piece {piece}"
                );
                assert_eq!(read.jobs.len(), 3);
            }
        }
    }

    #[test]
    fn an_empty_or_escaped_jobs_array_reads_too() {
        for body in [
            r#"{"cursor":"1","jobs":[],"has_more":false}"#,
            r#"{"cursor":"1","j\u006fbs":[],"has_more":false}"#,
        ] {
            let read = read_in_pieces(body.as_bytes(), 3).unwrap();
            assert!(read.jobs.is_empty());
            assert_eq!(read.cursor, "1");
        }
        let escaped = format!(r#"{{"cursor":"1","j\u006fbs":[{}]}}"#, job("a"));
        assert_eq!(read_in_pieces(escaped.as_bytes(), 5).unwrap().jobs.len(), 1);
    }

    #[test]
    fn what_is_not_a_page_is_an_error() {
        for body in [
            r#"{"cursor":"1","jobs":[1,2]}"#.to_owned(),
            r#"{"cursor":"1","jobs":[{"id":"a"}]}"#.to_owned(),
            format!(r#"{{"cursor":"1","jobs":[{}"#, job("a")),
            format!(r#"{{"cursor":"1","jobs":[{}],"jobs":[]}}"#, job("a")),
            r#"{"jobs":[]"#.to_owned(),
            format!(r#"{{"cursor":"1","jobs":[{},]}}"#, job("a")),
            format!(r#"{{"cursor":"1","jobs":[{}{}]}}"#, job("a"), job("b")),
            format!(r#"{{"cursor":"1","jobs":[,{}]}}"#, job("a")),
            r#"{"cursor":"1","jobs":[,]}"#.to_owned(),
            "[]".to_owned(),
            String::new(),
        ] {
            assert!(read_in_pieces(body.as_bytes(), 4).is_err(), "{body}");
        }
    }

    /// Bytes from the network, cut anywhere: the reader never panics, and
    /// whatever a whole-body parse reads as a page, the reader reads the
    /// same (it never refuses a page, however the body is split).
    mod arbitrary_bodies {
        use super::*;
        use proptest::prelude::*;

        fn page() -> Vec<u8> {
            serde_json::to_vec(&serde_json::json!({
                "cursor": "42", "jobs": [job("a"), job("b")],
                "removed": [{"job_id": "z", "reason": "TAKEN_OVER"}], "has_more": false,
            }))
            .unwrap()
        }

        fn read_split(body: &[u8], cuts: &[usize]) -> Result<ChangesResponse, serde_json::Error> {
            let mut r = PageReader::default();
            let mut at = 0;
            for &c in cuts {
                let end = (at + c).min(body.len());
                r.feed(&body[at..end])?;
                at = end;
            }
            r.feed(&body[at..])?;
            r.finish()
        }

        fn check(body: &[u8], cuts: &[usize]) {
            let read = read_split(body, cuts);
            if let Ok(whole) = serde_json::from_slice::<ChangesResponse>(body) {
                let read = read.unwrap_or_else(|e| panic!("refused a page: {e}"));
                assert_eq!(
                    serde_json::to_value(&read).unwrap(),
                    serde_json::to_value(&whole).unwrap()
                );
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn random_bytes(body in proptest::collection::vec(any::<u8>(), 0..400),
                            cuts in proptest::collection::vec(0usize..64, 0..8)) {
                check(&body, &cuts);
            }

            #[test]
            fn a_page_with_bytes_changed_cut_or_inserted(
                edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 0..4),
                cuts in proptest::collection::vec(0usize..200, 0..8),
            ) {
                let mut body = page();
                for (at, byte, kind) in edits {
                    let at = at % (body.len() + 1);
                    match kind {
                        0 if at < body.len() => body[at] = byte,
                        1 => body.insert(at, byte),
                        _ => body.truncate(at),
                    }
                }
                check(&body, &cuts);
            }

            #[test]
            fn whitespace_anywhere_between_tokens(
                spaces in proptest::collection::vec((any::<usize>(), prop_oneof![Just(b' '), Just(b'\n'), Just(b'\t'), Just(b'\r')]), 0..12),
                cuts in proptest::collection::vec(0usize..100, 0..8),
            ) {
                // Reformatted (pretty) and then spaced at random token
                // boundaries: still the same page.
                let text = serde_json::to_string_pretty(
                    &serde_json::from_slice::<serde_json::Value>(&page()).unwrap(),
                )
                .unwrap();
                let mut body = text.into_bytes();
                for (at, ws) in spaces {
                    let at = at % (body.len() + 1);
                    // Only where whitespace already is: between tokens.
                    if at < body.len() && body[at].is_ascii_whitespace() {
                        body.insert(at, ws);
                    }
                }
                check(&body, &cuts);
            }
        }
    }
}
