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
