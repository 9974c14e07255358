/* Live progress of Linx runs.
 *
 * Every element with data-linx-progress="<url>" whose data-linx-status is queued or
 * running polls that URL (the run's progress JSON) every two seconds and moves its bars.
 * On a run's page (data-linx-reload="page") its header, counts and rows come along too:
 * when the status or the counts change, the page is fetched again and each part marked
 * data-linx-live is swapped for its fresh copy. When the run ends the page reloads to
 * show its buttons; a row of the runs list shows the final status and counts in place.
 */
(function () {
    "use strict";

    const EVERY_MS = 2000;
    const ACTIVE = new Set(["queued", "running"]);

    function setBar(bar, percent) {
        if (!bar) return;
        bar.setAttribute("aria-valuenow", String(percent));
        const fill = bar.querySelector("span");
        if (fill) fill.style.width = percent + "%";
    }

    function setBadge(badge, data) {
        if (!badge) return;
        badge.textContent = data.status_label;
        badge.className = "linx-badge linx-badge--" + data.status_tone;
    }

    function setCounts(element, data) {
        if (!element) return;
        element.replaceChildren();
        if (!data.count_parts.length) {
            const none = document.createElement("span");
            none.className = "linx-quiet";
            none.textContent = "—";
            element.append(none);
            return;
        }
        data.count_parts.forEach(function (part, i) {
            if (i) element.append(" · ");
            const span = document.createElement("span");
            span.className = "linx-count linx-count--" + part[0];
            span.textContent = part[1].toLocaleString() + " " + part[0];
            element.append(span);
        });
    }

    function entityRow(widget, entry) {
        const list = widget.querySelector("[data-linx-entities]");
        if (!list) return null;
        let row = list.querySelector('[data-linx-entity="' + CSS.escape(entry.entity) + '"]');
        if (row) return row;
        row = document.createElement("div");
        row.className = "linx-progress-row";
        row.dataset.linxEntity = entry.entity;
        const label = document.createElement("span");
        label.className = "linx-progress-label";
        label.textContent = entry.label;
        const bar = document.createElement("div");
        bar.className = "linx-bar";
        bar.setAttribute("role", "progressbar");
        bar.setAttribute("aria-label", entry.label);
        bar.setAttribute("aria-valuemin", "0");
        bar.setAttribute("aria-valuemax", "100");
        bar.append(document.createElement("span"));
        const numbers = document.createElement("span");
        numbers.className = "linx-progress-numbers";
        row.append(label, bar, numbers);
        list.append(row);
        return row;
    }

    function render(widget, data) {
        const scope = widget.closest("tr") || document;
        widget.dataset.linxStatus = data.status;
        setBar(widget.querySelector("[data-linx-bar]"), data.overall.percent);
        const overall = widget.querySelector("[data-linx-numbers]");
        if (overall) {
            overall.textContent = data.overall.total
                ? data.overall.done.toLocaleString() + " / " + data.overall.total.toLocaleString()
                : "";
        }
        data.entities.forEach(function (entry) {
            const row = entityRow(widget, entry);
            if (!row) return;
            setBar(row.querySelector(".linx-bar"), entry.percent);
            row.querySelector(".linx-progress-numbers").textContent =
                entry.done.toLocaleString() + " / " + entry.total.toLocaleString();
        });
        scope.querySelectorAll('[data-linx-badge="status"]').forEach(function (badge) {
            setBadge(badge, data);
        });
        const duration = scope.querySelector("[data-linx-duration]");
        if (duration) duration.textContent = data.duration;
        const note = widget.querySelector("[data-linx-note]");
        if (note && data.status === "running") {
            note.textContent = data.cancel_requested
                ? "Stop requested: it stops at its next batch of rows."
                : "Updates every two seconds; the page reloads when the run ends.";
        }
        if (widget.closest("tr")) setCounts(scope.querySelector("[data-linx-counts]"), data);
    }

    function refreshLiveParts(widget, data) {
        if (widget.dataset.linxReload !== "page") return;
        const shown = data.status + "|" + data.counts_text;
        if (widget.dataset.linxShown === shown) return;  // nothing new to show
        widget.dataset.linxShown = shown;
        fetch(window.location.href, {
            credentials: "same-origin",
            cache: "no-store",
            headers: { Accept: "text/html" },
        })
            .then(function (response) {
                if (!response.ok) throw new Error("retry");
                return response.text();
            })
            .then(function (html) {
                const fresh = new DOMParser().parseFromString(html, "text/html");
                document.querySelectorAll("[data-linx-live]").forEach(function (part) {
                    const name = CSS.escape(part.dataset.linxLive);
                    const next = fresh.querySelector('[data-linx-live="' + name + '"]');
                    if (next) part.replaceWith(document.importNode(next, true));
                });
            })
            .catch(function () {
                widget.dataset.linxShown = "";  // try again at the next poll
            });
    }

    function finished(widget) {
        if (widget.dataset.linxReload === "page") {
            window.location.reload();
            return;
        }
        // In the list the run's final badge stays; the bar has nothing more to say.
        widget.querySelectorAll(".linx-bar, [data-linx-numbers]").forEach(function (el) {
            el.remove();
        });
    }

    function poll(widget, failures) {
        fetch(widget.dataset.linxProgress, {
            credentials: "same-origin",
            cache: "no-store",
            headers: { Accept: "application/json" },
        })
            .then(function (response) {
                if (response.status === 403 || response.status === 404) {
                    throw new Error("gone");  // no longer visible: stop asking
                }
                if (!response.ok) throw new Error("retry");
                return response.json();
            })
            .then(function (data) {
                render(widget, data);
                if (ACTIVE.has(data.status)) {
                    refreshLiveParts(widget, data);
                    window.setTimeout(function () { poll(widget, 0); }, EVERY_MS);
                } else {
                    finished(widget);
                }
            })
            .catch(function (error) {
                if (error.message === "gone") return;
                // A restart or a network blip: ask again, less often, and never give up.
                const wait = EVERY_MS * Math.min(15, 2 ** Math.min(failures + 1, 4));
                window.setTimeout(function () { poll(widget, failures + 1); }, wait);
            });
    }

    function start() {
        document.querySelectorAll("[data-linx-progress]").forEach(function (widget) {
            if (ACTIVE.has(widget.dataset.linxStatus)) {
                window.setTimeout(function () { poll(widget, 0); }, EVERY_MS);
            }
        });
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();
