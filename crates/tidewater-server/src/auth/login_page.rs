//! The login page (`GET /login`): a form that posts a token to `POST /login`, rendered in the
//! UI's look (`ui/login_page.rs`; its assets under `/assets/` are reachable without a
//! session). What it must keep is the form: `token`, and `next` carried through.

/// The page, with `next` (where to go once logged in) and whether the last try failed, in the
/// UI's look (askama escapes `next`).
pub(crate) fn login_page(next: &str, has_failed: bool) -> String {
    crate::ui::login_page::login_html(next, has_failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_next_escaped() {
        let page = login_page("/grid\"><script>", true);
        assert!(
            page.contains(r#"value="/grid&#34;&#62;&#60;script&#62;""#),
            "{page}"
        );
        assert!(page.contains(r#"name="token""#) && page.contains(r#"action="/login""#));
        assert!(page.contains("unknown or revoked"));
        assert!(!login_page("/", false).contains("unknown or revoked"));
    }
}
