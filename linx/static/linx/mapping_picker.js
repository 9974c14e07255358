// The link page's picker: search the ExakTime records as one types, pick one by its
// button, and the form's hidden exaktime_id carries it. Names and ids are shown, so
// nobody types an internal id.
(function () {
  "use strict";
  const picker = document.querySelector(".linx-picker");
  if (!picker) return;
  const search = picker.querySelector("#linx-picker-search");
  const results = picker.querySelector(".linx-picker-results");
  const chosen = picker.querySelector(".linx-picker-chosen");
  const hidden = picker.querySelector("input[type=hidden]");
  let asked = 0;

  function label(record) {
    const parts = [record.identifier, record.name].filter(Boolean).join(" ");
    return `${parts} (id ${record.id})${record.active ? "" : " · inactive"}`;
  }

  function pick(record) {
    hidden.value = record.id;
    chosen.textContent = `Picked: ${label(record)}`;
  }

  function show(found) {
    results.replaceChildren();
    if (!found.length) {
      const none = document.createElement("li");
      none.textContent = "No unlinked ExakTime record matches.";
      results.append(none);
      return;
    }
    for (const record of found) {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button";
      button.textContent = label(record);
      button.addEventListener("click", () => pick(record));
      item.append(button);
      results.append(item);
    }
  }

  async function ask() {
    const mine = ++asked;
    const url = `${picker.dataset.candidatesUrl}?q=${encodeURIComponent(search.value)}`;
    const answer = await fetch(url, { credentials: "same-origin" });
    if (mine !== asked || !answer.ok) return; // a later search answers instead
    show((await answer.json()).results);
  }

  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(ask, 200);
  });
  ask();
})();
