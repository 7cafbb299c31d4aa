// Tourbook's small progressive enhancements. Everything works without this file.
(function () {
  "use strict";

  function enhanceCopyButtons(root) {
    if (!navigator.clipboard) return;
    root.querySelectorAll("[data-copy]").forEach(function (button) {
      if (button.dataset.copyReady) return;
      button.dataset.copyReady = "1";
      button.hidden = false;
      button.addEventListener("click", function () {
        var input = document.getElementById(button.dataset.copy);
        var status = document.querySelector('[data-copy-status="' + button.dataset.copy + '"]');
        navigator.clipboard.writeText(input.value).then(function () {
          if (status) status.textContent = button.dataset.copied;
        }, function () {
          input.select();
        });
      });
    });
  }

  // After a swap: errors get the focus so screen readers and keyboard users land on them.
  function focusAfterSwap(root) {
    var target = root.querySelector("[data-focus-on-swap]") ||
      (root.matches && root.matches("[data-focus-on-swap]") ? root : null);
    // Once per element: answers swapped into it later (a live region stays) leave the focus where it is.
    if (target && !target.hasAttribute("data-focused")) {
      target.setAttribute("data-focused", "");
      target.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () { enhanceCopyButtons(document); });
  document.addEventListener("htmx:afterSwap", function (event) {
    enhanceCopyButtons(event.detail.elt.parentNode || document);
    focusAfterSwap(event.detail.elt.parentNode || event.detail.elt);
  });
  // Confirmations for dangerous buttons that carry data-confirm (the server still asks when JS is off).
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);
})();

// Answers htmx does not swap (400 expired form, 403, 404, 429 too many attempts, 5xx): show the error page's
// message in the announced flash area instead of silently doing nothing.
(function () {
  "use strict";
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var flash = document.getElementById("flash");
    if (!flash || !xhr) return;
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var heading = doc.querySelector("main h1");
    var text = doc.querySelector("main p");
    var box = document.createElement("div");
    box.className = "kern-alert kern-alert--danger";
    box.setAttribute("role", "alert");
    var title = document.createElement("p");
    title.className = "kern-title";
    title.textContent = (heading ? heading.textContent : String(xhr.status)) + (text ? " – " + text.textContent : "");
    box.appendChild(title);
    flash.replaceChildren(box);
    flash.scrollIntoView({block: "nearest"});
  });
})();

// The language switch loads the page again in the other language. What was typed into the page's forms is
// carried over (this tab's sessionStorage, read once and removed) instead of being lost; passwords and hidden
// fields never are. A field that asks live (the availability) asks again for the restored values.
(function () {
  "use strict";
  var KEY = "tourbook-typed:";

  function changedFields(form) {
    var fields = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || /^(hidden|password|submit|button|file|reset)$/.test(el.type)) return;
      if (el.type === "checkbox" || el.type === "radio") {
        if (el.checked !== el.defaultChecked) fields.push([el.name, el.value, el.checked]);
      } else if (el.tagName === "SELECT") {
        var first = Array.prototype.find.call(el.options, function (o) { return o.defaultSelected; }) || el.options[0];
        if (first && el.value !== first.value) fields.push([el.name, el.value]);
      } else if (el.value !== el.defaultValue) {
        fields.push([el.name, el.value]);
      }
    });
    return fields;
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".lang-switch a");
    if (!link || !window.sessionStorage) return;
    var typed = [];
    document.querySelectorAll("main form").forEach(function (form, index) {
      var fields = changedFields(form);
      if (fields.length) typed.push([index, fields]);
    });
    if (typed.length) sessionStorage.setItem(KEY + location.pathname, JSON.stringify(typed));
  });

  window.addEventListener("load", function () {
    if (!window.sessionStorage) return;
    var raw = sessionStorage.getItem(KEY + location.pathname);
    if (!raw) return;
    sessionStorage.removeItem(KEY + location.pathname);
    var forms = document.querySelectorAll("main form");
    var asks = null;
    JSON.parse(raw).forEach(function (entry) {
      var form = forms[entry[0]];
      if (!form) return;
      entry[1].forEach(function (field) {
        form.querySelectorAll('[name="' + CSS.escape(field[0]) + '"]').forEach(function (el) {
          if (el.type === "checkbox" || el.type === "radio") {
            if (el.value === field[1]) el.checked = field[2];
          } else {
            el.value = field[1];
          }
          if (el.hasAttribute("hx-get") || el.closest("[hx-trigger='change']")) asks = el;
        });
      });
    });
    if (asks) asks.dispatchEvent(new Event("change", {bubbles: true}));
  });
})();
