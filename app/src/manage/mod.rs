//! Commands that move the site's data, as Django's `manage.py` does: the demo data a new
//! site starts with (`seed`), `import-django` (`import`), `backup`, and `dumpdata` and
//! `loaddata` (`fixture`). They write every
//! feature's rows, so they sit above the features, not in `db`.

pub mod backup;
pub mod fixture;
pub mod import;
pub mod seed;
