//! Commands that move the site's data, as Django's `manage.py` does: the demo data a new
//! site starts with (`seed`) and `import-django` (`import`). They write every feature's
//! rows, so they sit above the features, not in `db`.

pub mod import;
pub mod seed;
