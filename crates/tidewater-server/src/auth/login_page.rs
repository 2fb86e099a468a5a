//! The login page (`GET /login`): a form that posts a token to `POST /login`. Plain HTML with
//! no script and no asset, so it works before anything else of the UI is reachable. The UI
//! may restyle it; what it must keep is the form: `token`, and `next` carried through.

/// The page, with `next` (where to go once logged in) and whether the last try failed.
pub(crate) fn login_page(next: &str, has_failed: bool) -> String {
    let failure = if has_failed {
        "<p class=\"failure\" role=\"alert\">That token is unknown or revoked.</p>\n"
    } else {
        ""
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · Tidewater</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f6f8; color: #1d2733; margin: 0; }}
main {{ max-width: 24rem; margin: 12vh auto; background: #fff; padding: 2rem;
        border-radius: 8px; box-shadow: 0 1px 4px rgb(0 0 0 / 12%); }}
h1 {{ font-size: 1.4rem; margin-top: 0; }}
label {{ display: block; margin-bottom: .4rem; }}
input[type=password] {{ width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; }}
button {{ margin-top: 1rem; padding: .5rem 1.2rem; font: inherit; }}
.failure {{ color: #a11d2b; }}
.hint {{ color: #5b6773; font-size: .9rem; }}
</style>
</head>
<body>
<main>
<h1>Tidewater</h1>
{failure}<form method="post" action="/login">
<label for="token">Token</label>
<input type="password" id="token" name="token" autocomplete="off" required autofocus>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form>
<p class="hint">Make a token with <code>tidewater token create --name NAME --scope read</code>.</p>
</main>
</body>
</html>
"#,
        next = escape(next)
    )
}

/// `text` safe inside an HTML attribute or element.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_next_escaped() {
        let page = login_page("/grid\"><script>", true);
        assert!(
            page.contains(r#"value="/grid&quot;&gt;&lt;script&gt;""#),
            "{page}"
        );
        assert!(page.contains("unknown or revoked"));
        assert!(!login_page("/", false).contains("unknown or revoked"));
    }
}
