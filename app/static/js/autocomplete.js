// A foreign key's search (Django's autocomplete widget, without jQuery or Select2): type
// part of a name, pick a row, and its id goes into the id input beside, its name under
// it. Results come from /admin/autocomplete/, 20 at a time ("More results" for the next
// page). Without this script the id input and its "Look up" link still do the job.
(function () {
  "use strict";
  document.querySelectorAll(".related-widget[data-autocomplete]").forEach((widget) => {
    const input = widget.querySelector("input.vForeignKeyRawIdAdminField");
    const label = widget.querySelector(".related-label");
    const url = widget.dataset.autocomplete;
    if (!input || !label || !url) {
      return;
    }
    const search = document.createElement("input");
    search.type = "search";
    search.className = "related-search";
    search.placeholder = "Search";
    search.autocomplete = "off";
    search.setAttribute("aria-label", "Search for " + input.name);
    search.setAttribute("aria-controls", input.id + "_results");
    const list = document.createElement("ul");
    list.className = "related-results";
    list.id = input.id + "_results";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    widget.append(search, list);

    let timer = null;
    let controller = null;

    function choose(id, text) {
      input.value = id;
      label.textContent = text;
      search.value = "";
      list.hidden = true;
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function item(text, onPick, className) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = className;
      button.textContent = text;
      button.addEventListener("click", onPick);
      li.append(button);
      return li;
    }

    async function load(term, page) {
      if (controller) {
        controller.abort();
      }
      controller = new AbortController();
      const query = "&term=" + encodeURIComponent(term) + "&page=" + page;
      let data;
      try {
        const response = await fetch(url + query, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
          signal: controller.signal,
        });
        if (!response.ok) {
          return;
        }
        data = await response.json();
      } catch (error) {
        return;
      }
      if (page === 1) {
        list.replaceChildren();
      } else {
        const more = list.querySelector(".related-more");
        if (more) {
          more.parentElement.remove();
        }
      }
      data.results.forEach((row) => {
        list.append(item(row.text + " (" + row.id + ")", () => choose(row.id, row.text), "related-choice"));
      });
      if (page === 1 && data.results.length === 0) {
        const none = document.createElement("li");
        none.className = "help";
        none.textContent = "No results found";
        list.append(none);
      }
      if (data.pagination && data.pagination.more) {
        list.append(item("More results", () => load(term, page + 1), "related-more"));
      }
      list.hidden = false;
    }

    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => load(search.value.trim(), 1), 250);
    });
    search.addEventListener("focus", () => {
      if (list.childElementCount === 0) {
        load("", 1);
      } else {
        list.hidden = false;
      }
    });
    search.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        list.hidden = true;
      } else if (event.key === "Enter") {
        // Enter picks the first result instead of submitting the form.
        event.preventDefault();
        const first = list.querySelector(".related-choice");
        if (first) {
          first.click();
        }
      }
    });
    // An id typed by hand: the name shown no longer matches it until the form is saved.
    input.addEventListener("input", () => {
      label.textContent = "";
    });
  });
})();
