//! The public lists' pages, as Django's `ListView(paginate_by=…)` gives them: `?page=N`
//! (1-based), `PAGE_SIZE` rows a page, previous/next links, and a page that is junk or past
//! the end a 404. A page is read as `PAGE_SIZE + 1` rows, so whether a next page exists is
//! known without counting the table (a count of a million rows costs more than the page).

use serde::Serialize;

/// The most rows a public list page may show (`PAGE_SIZE`): a thousand short lines stay well
/// under the page-size budget of the scale goals (256 KB).
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The default `PAGE_SIZE`.
pub const DEFAULT_PAGE_SIZE: u32 = 25;

/// Past this page number nothing is looked up: a billion rows at the smallest page size.
const MAX_PAGE: u32 = 1_000_000_000;

/// One page of a list, as asked in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageRequest {
    /// 1-based.
    pub number: u32,
    pub size: u32,
}

impl PageRequest {
    /// The page `?page=` asks for: absent or empty is page 1; a positive whole number is
    /// that page; anything else (`0`, `-1`, `2.5`, `abc`, a second `page`) is `None`, a
    /// 404 as Django's `ListView` answers "Invalid page". `size` is `PAGE_SIZE`.
    pub fn from_query(query_string: &str, size: u32) -> Option<PageRequest> {
        let mut page = None;
        for (key, value) in form_urlencoded_pairs(query_string) {
            if key == "page" {
                if page.is_some() {
                    return None;
                }
                page = Some(value);
            }
        }
        let number = match page.as_deref() {
            None | Some("") => 1,
            Some(raw) => parse_page(raw)?,
        };
        Some(PageRequest {
            number,
            size: size.clamp(1, MAX_PAGE_SIZE),
        })
    }

    /// How many rows to read: the page's, and one more to learn whether a next page exists.
    pub fn limit(&self) -> i64 {
        i64::from(self.size) + 1
    }

    /// Rows before this page.
    pub fn offset(&self) -> i64 {
        i64::from(self.number - 1) * i64::from(self.size)
    }
}

/// How a page (past the first) of a list of `total` rows in id order finds its first id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Skip this many ids from the smallest.
    Skip(i64),
    /// Skip this many ids from the largest (a page in the back half: the last page of a
    /// million rows skips none).
    SkipFromEnd(i64),
    /// The list holds no row for this page.
    PastEnd,
}

impl PageRequest {
    /// Where this page starts in a list of `total` rows.
    pub fn start(&self, total: i64) -> Start {
        let offset = self.offset();
        if offset >= total {
            Start::PastEnd
        } else if offset > total / 2 {
            Start::SkipFromEnd(total - 1 - offset)
        } else {
            Start::Skip(offset)
        }
    }
}

/// A positive page number written as plain digits (Django's `int()` also takes a sign and
/// spaces; one spelling per page keeps the page cache to one entry per page).
fn parse_page(raw: &str) -> Option<u32> {
    if raw.is_empty() || raw.len() > 10 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u32>().ok().filter(|n| (1..=MAX_PAGE).contains(n))
}

fn form_urlencoded_pairs(query_string: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query_string).unwrap_or_default()
}

/// A page's rows and its links to the pages beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub number: u32,
    pub has_next: bool,
}

impl<T> Page<T> {
    /// The page from the `request.limit()` rows read for it; `None` when the page is past
    /// the end (a 404). Page 1 of an empty list is a page, with no rows (Django's
    /// `allow_empty`).
    pub fn from_rows(mut rows: Vec<T>, request: PageRequest) -> Option<Page<T>> {
        if rows.is_empty() && request.number > 1 {
            return None;
        }
        let has_next = rows.len() > request.size as usize;
        rows.truncate(request.size as usize);
        Some(Page {
            rows,
            number: request.number,
            has_next,
        })
    }

    pub fn has_previous(&self) -> bool {
        self.number > 1
    }

    /// The links under the list, for a template; `None` when the list fits on one page,
    /// so that a short list is the page it was before lists were paginated.
    pub fn nav(&self, path: &str) -> Option<PageNav> {
        if !self.has_previous() && !self.has_next {
            return None;
        }
        let link = |number: u32| {
            if number == 1 {
                path.to_owned()
            } else {
                format!("{path}?page={number}")
            }
        };
        Some(PageNav {
            number: self.number,
            previous: self.has_previous().then(|| link(self.number - 1)),
            next: self.has_next.then(|| link(self.number + 1)),
        })
    }
}

/// Previous/next links of a list page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PageNav {
    pub number: u32,
    pub previous: Option<String>,
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> Option<u32> {
        PageRequest::from_query(query, 25).map(|r| r.number)
    }

    #[test]
    fn page_numbers_parse_as_a_list_view_takes_them() {
        assert_eq!(request(""), Some(1));
        assert_eq!(request("page="), Some(1));
        assert_eq!(request("page=1"), Some(1));
        assert_eq!(request("page=7&other=x"), Some(7));
        assert_eq!(request("other=x"), Some(1));
        for junk in [
            "page=0",
            "page=-1",
            "page=+2",
            "page=2.5",
            "page=abc",
            "page=%00",
            "page=1%20",
            "page=99999999999",
            "page=1000000001",
            "page=1&page=2",
            "page=last",
        ] {
            assert_eq!(request(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_page_reads_one_row_more_than_it_shows() {
        let third = PageRequest::from_query("page=3", 25).unwrap();
        assert_eq!((third.limit(), third.offset()), (26, 50));
        let deepest = PageRequest::from_query("page=1000000000", MAX_PAGE_SIZE).unwrap();
        assert_eq!(deepest.offset(), 999_999_999_000, "no overflow");
        assert_eq!(PageRequest::from_query("", 0).unwrap().size, 1);
        assert_eq!(PageRequest::from_query("", 5000).unwrap().size, MAX_PAGE_SIZE);
    }

    #[test]
    fn a_page_in_the_back_half_starts_from_the_end() {
        let page = |n: u32| PageRequest::from_query(&format!("page={n}"), 25).unwrap();
        assert_eq!(page(2).start(100), Start::Skip(25));
        assert_eq!(page(3).start(100), Start::Skip(50));
        assert_eq!(
            page(4).start(100),
            Start::SkipFromEnd(24),
            "ids 76..100: the 25th from the end"
        );
        assert_eq!(page(4).start(76), Start::SkipFromEnd(0), "the last row alone");
        assert_eq!(page(5).start(100), Start::PastEnd);
        assert_eq!(page(40_000).start(1_000_000), Start::SkipFromEnd(24));
    }

    #[test]
    fn pages_know_their_neighbours_and_the_end() {
        let first = PageRequest::from_query("", 2).unwrap();
        let page = Page::from_rows(vec![1, 2, 3], first).unwrap();
        assert_eq!(page.rows, [1, 2]);
        assert_eq!(
            page.nav("/lettings/"),
            Some(PageNav {
                number: 1,
                previous: None,
                next: Some("/lettings/?page=2".into())
            })
        );
        let second = PageRequest::from_query("page=2", 2).unwrap();
        let page = Page::from_rows(vec![3], second).unwrap();
        assert_eq!(
            page.nav("/lettings/"),
            Some(PageNav {
                number: 2,
                previous: Some("/lettings/".into()),
                next: None
            })
        );
        let short = Page::from_rows(vec![1, 2], first).unwrap();
        assert_eq!(short.nav("/lettings/"), None, "one page: no links at all");
        assert!(
            Page::from_rows(Vec::<i32>::new(), first).is_some(),
            "an empty first page"
        );
        assert!(
            Page::from_rows(Vec::<i32>::new(), second).is_none(),
            "past the end: 404"
        );
    }
}
