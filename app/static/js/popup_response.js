// The page a popup's form answers once saved (Django's popup_response.js): hands the saved
// row (its id and name, from this script's data attribute) to the form that opened the
// popup, which closes it. No inline script: the Content-Security-Policy allows none.
"use strict";
(() => {
  const script = document.getElementById("popup-response");
  if (!script) return;
  let data;
  try {
    data = JSON.parse(script.dataset.popupResponse);
  } catch (_) {
    return;
  }
  const opener = window.opener;
  // Only a form of this site, in the window that opened this one, is told.
  if (!opener || opener.closed) return;
  try {
    if (data.action === "change" && typeof opener.dismissChangeRelatedObjectPopup === "function") {
      opener.dismissChangeRelatedObjectPopup(window, data.value, data.obj);
    } else if (typeof opener.dismissAddRelatedObjectPopup === "function") {
      opener.dismissAddRelatedObjectPopup(window, data.value, data.obj);
    }
  } catch (_) {
    // Another origin's window: nothing to tell it.
  }
})();
