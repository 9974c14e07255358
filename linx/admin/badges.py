"""The console's pills: one badge helper, and the "Fix needed" / "Retry may help" flag.

A badge's tone names a colour of the stylesheet its page loads: ok, warn, bad, info and
quiet on the connection pages (console_styles.html); success, info, warning, error, quiet
and muted on the run pages (console.css).
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

FLAG_TITLES = {
    True: "A passing fault (timeout, rate limit, service down): re-running may succeed.",
    False: "Re-running alone will fail again: fix what the message says first.",
}


def badge(label: str, tone: str, title: str = "", **data: str) -> SafeString:
    """A status pill; `title` shows on hover, `data` become ``data-linx-*`` attributes
    (the live run page finds its status badge by them)."""
    attributes = format_html_join("", ' data-linx-{}="{}"', data.items())
    if title:
        attributes = format_html(' title="{}"{}', title, attributes)
    return format_html(
        '<span class="linx-badge linx-badge--{}"{}>{}</span>', tone, attributes, label
    )


def fix_or_retry(retryable: bool) -> SafeString:
    """Red "Fix needed" (an operator must act) or amber "Retry may help" (a passing fault)."""
    if retryable:
        return format_html(
            '<span class="linx-flag linx-flag--retry" title="{}">Retry may help</span>',
            FLAG_TITLES[True],
        )
    return format_html(
        '<span class="linx-flag linx-flag--fix" title="{}">Fix needed</span>', FLAG_TITLES[False]
    )
