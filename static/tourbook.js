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
    if (target) target.focus();
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
